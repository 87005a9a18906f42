"""Activity, note and onboarding services."""
from datetime import timedelta

import pytest
from django.utils import timezone

from activities import selectors, services
from activities.models import Activity, ActivityKind, Note, OnboardingItem, OnboardingTask
from activities.services import ActivityError
from pipeline import services as pipeline_services
from pipeline.models import Deal, DealStatus, Pipeline, Stage, Transition
from tests.activities.conftest import in_hours
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def test_an_activity_is_planned_on_a_deal_with_owner_and_due_time(deal, rep):
    activity = services.activity_create(
        actor=rep, deal=deal, kind=ActivityKind.CALL, title="  Call the CFO ", due_at=in_hours(3), note="Ask for budget"
    )
    assert activity.title == "Call the CFO"
    assert activity.owner == rep and activity.created_by == rep
    assert activity.deal == deal and activity.organization is None
    assert not activity.is_done and not activity.is_overdue


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"title": ""}, "invalid_title"),
        ({"kind": "fax"}, "invalid_kind"),
        ({"due_at": None}, "invalid_due"),
        ({"organization": "SAME"}, "invalid_target"),
    ],
)
def test_an_invalid_activity_is_refused(deal, rep, kwargs, code):
    data = {"actor": rep, "deal": deal, "kind": "call", "title": "Call", "due_at": in_hours(1)}
    data.update({k: (deal.organization if v == "SAME" else v) for k, v in kwargs.items()})
    with pytest.raises(ActivityError) as refused:
        services.activity_create(**data)
    assert refused.value.code == code
    assert not Activity.objects.exists()


def test_an_activity_on_an_organization(organization, rep):
    activity = services.activity_create(actor=rep, organization=organization, kind="email", title="Send case study", due_at=in_hours(1))
    assert activity.organization == organization and activity.deal is None


def test_completing_records_who_and_when_and_is_idempotent(deal, rep, manager):
    activity = services.activity_create(actor=rep, deal=deal, kind="task", title="Send offer", due_at=in_hours(-2))
    assert activity.is_overdue
    done = services.activity_complete(activity=activity, actor=manager)
    assert done.done_at is not None and done.done_by == manager
    first_done_at = done.done_at
    again = services.activity_complete(activity=activity, actor=rep)
    assert again.done_at == first_done_at and again.done_by == manager
    reopened = services.activity_reopen(activity=activity, actor=rep)
    assert reopened.done_at is None and reopened.done_by is None


def test_editing_an_activity_changes_only_the_given_fields(deal, rep, teammate):
    activity = services.activity_create(actor=rep, deal=deal, kind="call", title="Call", due_at=in_hours(1))
    due = in_hours(48)
    services.activity_update(activity=activity, actor=rep, title="Call back", due_at=due, owner=teammate)
    activity.refresh_from_db()
    assert (activity.title, activity.due_at, activity.owner, activity.kind) == ("Call back", due, teammate, "call")
    with pytest.raises(ActivityError):
        services.activity_update(activity=activity, actor=rep, title=" ")
    with pytest.raises(TypeError):
        services.activity_update(activity=activity, actor=rep, deal=None)


def test_a_note_is_stored_as_typed_and_must_not_be_empty(deal, rep):
    note = services.note_create(actor=rep, deal=deal, body="  <b>hi</b>  ")
    assert note.body == "<b>hi</b>" and note.author == rep
    with pytest.raises(ActivityError):
        services.note_create(actor=rep, deal=deal, body="   ")
    assert Note.objects.count() == 1


# --- Onboarding ---------------------------------------------------------------------------


def test_winning_a_deal_creates_its_onboarding_checklist_once(negotiation_deal, rep, checklist, win, stages):
    win(negotiation_deal, rep)
    tasks = list(OnboardingTask.objects.filter(deal=negotiation_deal).order_by("position"))
    assert [t.title for t in tasks] == ["Kick-off call", "Accounts created", "Training held"]

    # The same event again, and the checklist service called directly: nothing is duplicated.
    assert services.onboarding_checklist_ensure(deal=negotiation_deal.pk) == 0
    from activities.receivers import onboarding_on_won

    onboarding_on_won(pipeline_ids=[negotiation_deal.pipeline_id], deal_ids=[negotiation_deal.pk], kind="won")
    assert OnboardingTask.objects.filter(deal=negotiation_deal).count() == 3

    # Moved back to an open stage and won again: still one copy of each item.
    with_version = Deal.objects.get(pk=negotiation_deal.pk)
    pipeline_services.deal_move(deal=with_version, to_stage=stages["Negotiation"], actor=rep)
    win(with_version, rep)
    assert OnboardingTask.objects.filter(deal=negotiation_deal).count() == 3


def test_an_inactive_or_other_pipelines_item_is_not_copied(negotiation_deal, rep, checklist, win):
    OnboardingItem.objects.create(pipeline=negotiation_deal.pipeline, title="Retired step", is_active=False)
    other = Pipeline.objects.create(name="Partners")
    OnboardingItem.objects.create(pipeline=other, title="Partner contract")
    win(negotiation_deal, rep)
    titles = set(OnboardingTask.objects.filter(deal=negotiation_deal).values_list("title", flat=True))
    assert titles == {"Kick-off call", "Accounts created", "Training held"}


def test_an_open_deal_gets_no_checklist(deal, checklist):
    assert services.onboarding_checklist_ensure(deal=deal) == 0
    assert not OnboardingTask.objects.exists()


def test_a_deal_created_in_a_won_stage_gets_the_checklist(rep, organization, checklist, stages, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deal = pipeline_services.deal_create(
            actor=rep, organization=organization, title="Signed on the spot", stage=stages["Retention"], amount=500,
            expected_close=timezone.localdate(),
        )
    assert OnboardingTask.objects.filter(deal=deal).count() == 3


def test_ticking_the_last_item_completes_onboarding_and_unticking_reopens_it(negotiation_deal, rep, checklist, win):
    win(negotiation_deal, rep)
    tasks = list(OnboardingTask.objects.filter(deal=negotiation_deal))
    for task in tasks[:-1]:
        services.onboarding_task_set_done(task=task, actor=rep, done=True)
    negotiation_deal.refresh_from_db()
    assert negotiation_deal.retention_done_at is None
    services.onboarding_task_set_done(task=tasks[-1], actor=rep, done=True)
    negotiation_deal.refresh_from_db()
    assert negotiation_deal.retention_done_at is not None
    assert OnboardingTask.objects.get(pk=tasks[-1].pk).done_by == rep

    services.onboarding_task_set_done(task=tasks[0], actor=rep, done=False)
    negotiation_deal.refresh_from_db()
    assert negotiation_deal.retention_done_at is None


def test_upsell_creates_a_deal_for_the_same_organization_in_the_chosen_pipeline(negotiation_deal, rep, win):
    upsell = Pipeline.objects.create(name="Upsell", position=1)
    idea = Stage.objects.create(pipeline=upsell, name="Idea", position=0)
    Transition.objects.create(pipeline=upsell, to_stage=idea)
    with pytest.raises(ActivityError):
        services.upsell_create(actor=rep, deal=negotiation_deal, pipeline=upsell, title="More seats")
    win(negotiation_deal, rep)
    won = Deal.objects.get(pk=negotiation_deal.pk)
    new = services.upsell_create(actor=rep, deal=won, pipeline=upsell, title="")
    assert new.organization_id == won.organization_id and new.stage == idea and new.status == DealStatus.OPEN
    assert new.title == "Upsell: Big rollout"


def test_a_lost_deal_cancels_its_open_activities_and_reopening_brings_them_back(
    deal, rep, django_capture_on_commit_callbacks
):
    from tests.factories import lost_reason

    planned = services.activity_create(actor=rep, deal=deal, kind=ActivityKind.CALL, title="Call", due_at=in_hours(3))
    done = services.activity_create(actor=rep, deal=deal, kind=ActivityKind.TASK, title="Done", due_at=in_hours(-3))
    services.activity_complete(activity=done, actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_mark_lost(deal=deal, reason=lost_reason(), actor=rep)
    planned.refresh_from_db()
    assert planned.cancelled and planned.done_at is not None and planned.done_by is None
    assert not Activity.objects.get(pk=done.pk).cancelled
    mine = selectors.my_activities(rep)
    assert planned not in mine.overdue + mine.today + mine.upcoming + mine.done_today

    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_reopen(deal=deal.pk, actor=rep)
    planned.refresh_from_db()
    assert not planned.cancelled and planned.done_at is None
    assert Activity.objects.get(pk=done.pk).done_at is not None
