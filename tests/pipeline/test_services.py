"""The rules of the deal services: moves, won/lost, reopen, create and update."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline import services
from pipeline.exceptions import MoveRefused, PipelineError, VersionConflict
from pipeline.models import Deal, DealChange, DealStatus, Organization, Pipeline, Stage, StageChange, Transition
from pipeline.signals import deals_changed
from tests.factories import DealFactory, OrganizationFactory, lost_reason

pytestmark = pytest.mark.django_db


def test_default_pipeline_has_six_stages_with_probabilities(pipeline):
    rows = list(pipeline.stages.values_list("name", "probability", "kind"))
    assert rows == [
        ("Prospecting", 10, "open"),
        ("Qualification", 20, "open"),
        ("Meeting & demo", 40, "open"),
        ("Offer", 60, "open"),
        ("Negotiation", 80, "open"),
        ("Retention", 100, "won"),
    ]


def test_move_forward_records_history_and_bumps_version(deal, stages, rep):
    before = deal.stage_entered_at
    moved = services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep, expected_version=1)
    assert moved.stage == stages["Qualification"]
    assert moved.version == 2
    change = StageChange.objects.filter(deal=deal).latest("at", "pk")
    assert (change.from_stage, change.to_stage, change.actor) == (stages["Prospecting"], stages["Qualification"], rep)
    assert change.time_in_previous == moved.stage_entered_at - before


def test_move_skipping_stages_and_backwards_is_allowed_by_default(deal, stages, rep):
    deal = services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    deal = services.deal_move(deal=deal, to_stage=stages["Prospecting"], actor=rep)
    assert deal.stage == stages["Prospecting"]
    assert StageChange.objects.filter(deal=deal).count() == 3


def test_move_into_offer_without_amount_is_refused_and_changes_nothing(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], amount=None)
    with pytest.raises(MoveRefused) as err:
        services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)
    assert "To enter “Offer”, this deal needs an amount." == str(err.value.message)
    deal.refresh_from_db()
    assert deal.stage == stages["Meeting & demo"] and deal.version == 1
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_move_into_won_stage_needs_amount_and_close_date(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=None)
    with pytest.raises(MoveRefused) as err:
        services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    assert str(err.value.message) == "To enter “Retention”, this deal needs an amount and an expected close date."


def test_move_into_won_stage_marks_deal_won_with_close_time(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], expected_close=date(2026, 12, 1))
    won = services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    assert won.status == DealStatus.WON and won.closed_at is not None
    change = StageChange.objects.filter(deal=deal).latest("at", "pk")
    assert (change.from_status, change.to_status) == ("open", "won")


def test_moving_a_won_deal_back_reopens_it(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], expected_close=date(2026, 12, 1))
    deal = services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    deal = services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    assert deal.status == DealStatus.OPEN and deal.closed_at is None


def test_stale_version_is_a_conflict_carrying_the_current_deal(deal, stages, rep):
    services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep, expected_version=1)
    with pytest.raises(VersionConflict) as err:
        services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep, expected_version=1)
    assert err.value.deal.stage == stages["Qualification"]
    assert err.value.status_code == 409
    assert Deal.objects.get(pk=deal.pk).stage == stages["Qualification"]


def test_move_to_stage_of_another_pipeline_is_refused(deal, rep):
    other = Pipeline.objects.create(name="Upsell")
    stage = Stage.objects.create(pipeline=other, name="Idea", position=0)
    with pytest.raises(MoveRefused) as err:
        services.deal_move(deal=deal, to_stage=stage, actor=rep)
    assert err.value.code == "wrong_pipeline"


def test_move_without_a_transition_is_refused(deal, stages, rep):
    # The admin allows Offer only from Meeting & demo.
    Transition.objects.filter(to_stage=stages["Offer"]).delete()
    Transition.objects.create(pipeline=deal.pipeline, from_stage=stages["Meeting & demo"], to_stage=stages["Offer"])
    with pytest.raises(MoveRefused) as err:
        services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)
    assert str(err.value.message) == "Deals cannot move from “Prospecting” to “Offer” in this pipeline."


def test_specific_transition_rules_win_over_any_stage_rules(rep, stages, pipeline):
    Transition.objects.create(
        pipeline=pipeline, from_stage=stages["Prospecting"], to_stage=stages["Qualification"], requires_next_step=True
    )
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], next_step="")
    with pytest.raises(MoveRefused, match="a next step"):
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)


def test_move_to_current_stage_changes_nothing(deal, rep):
    same = services.deal_move(deal=deal, to_stage=deal.stage, actor=rep, expected_version=1)
    assert same.version == 1
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_lost_deal_cannot_be_moved_until_reopened(deal, stages, rep):
    services.deal_mark_lost(deal=deal, reason=lost_reason(), actor=rep)
    with pytest.raises(MoveRefused, match="Reopen"):
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    reopened = services.deal_reopen(deal=deal, actor=rep)
    assert reopened.status == DealStatus.OPEN and reopened.lost_reason is None
    assert services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep).stage == stages["Qualification"]


def test_mark_lost_needs_a_reason(deal, rep):
    with pytest.raises(MoveRefused, match="Choose why"):
        services.deal_mark_lost(deal=deal, reason=None, actor=rep)
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_mark_lost_records_reason_and_keeps_stage(deal, rep):
    reason = lost_reason()
    lost = services.deal_mark_lost(deal=deal, reason=reason, actor=rep, note="Chose a cheaper tool")
    assert (lost.status, lost.lost_reason, lost.stage_id) == (DealStatus.LOST, reason, deal.stage_id)
    change = StageChange.objects.filter(deal=deal).latest("at", "pk")
    assert (change.to_status, change.lost_reason) == ("lost", reason)


def test_won_deal_cannot_be_marked_lost(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], expected_close=date(2026, 12, 1))
    services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    with pytest.raises(MoveRefused, match="won"):
        services.deal_mark_lost(deal=deal, reason=lost_reason(), actor=rep)


def test_create_starts_in_first_stage_with_history(rep, organization, pipeline):
    deal = services.deal_create(actor=rep, organization=organization, title="  Pilot  ", pipeline=pipeline, amount="1500.5")
    assert deal.stage.name == "Prospecting" and deal.title == "Pilot"
    assert deal.amount == Decimal("1500.50") and deal.currency == "EUR" and deal.owner == rep
    assert StageChange.objects.get(deal=deal).from_stage is None


def test_create_in_offer_needs_amount(rep, organization, stages):
    with pytest.raises(MoveRefused, match="needs an amount"):
        services.deal_create(actor=rep, organization=organization, title="Pilot", stage=stages["Offer"])
    assert not Deal.objects.exists()


@pytest.mark.parametrize("amount", ["-1", "abc", "1e13"])
def test_create_refuses_bad_amounts(rep, organization, amount):
    with pytest.raises(PipelineError):
        services.deal_create(actor=rep, organization=organization, title="Pilot", amount=amount)


def test_update_records_amount_and_close_date_changes(deal, rep):
    updated = services.deal_update(
        deal=deal, actor=rep, expected_version=1, amount=Decimal("2500"), expected_close=date(2027, 1, 31)
    )
    assert updated.version == 2
    changes = {c.field: (c.old_value, c.new_value) for c in DealChange.objects.filter(deal=deal)}
    assert changes == {"amount": ("1000.00", "2500.00"), "expected_close": ("", "2027-01-31")}


def test_update_without_changes_writes_nothing(deal, rep):
    same = services.deal_update(deal=deal, actor=rep, amount=Decimal("1000.00"))
    assert same.version == 1 and not DealChange.objects.exists()


def test_update_cannot_remove_amount_a_stage_requires(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"])
    with pytest.raises(MoveRefused, match="needs an amount"):
        services.deal_update(deal=deal, actor=rep, amount=None)


def test_update_with_stale_version_is_a_conflict(deal, rep):
    services.deal_update(deal=deal, actor=rep, title="New title")
    with pytest.raises(VersionConflict):
        services.deal_update(deal=deal, actor=rep, expected_version=1, title="Other")


def test_a_move_records_its_follow_ups_in_its_own_transaction_and_runs_them_after_commit(
    deal, stages, rep, django_capture_on_commit_callbacks
):
    from outbox.models import OutboxMessage

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    messages = list(OutboxMessage.objects.filter(topic=deals_changed.name))
    assert {m.handler for m in messages} >= {"forecasting.refresh", "api.webhook_deliveries"}
    assert all(m.payload["deal_ids"] == [deal.pk] and m.payload["kind"] == "moved" for m in messages)
    assert all(m.dispatched_at is None for m in messages), "nothing runs before the commit"
    for callback in callbacks:
        callback()
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_a_refused_move_records_no_follow_ups(deal, stages, rep):
    from outbox.models import OutboxMessage

    with pytest.raises(VersionConflict):
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep, expected_version=7)
    assert not OutboxMessage.objects.exists()


def test_a_changed_rule_applies_to_the_very_next_move(rep, stages, pipeline):
    """The move's statements are compiled once per process; the rows they read are not kept."""
    first = DealFactory(owner=rep, stage=stages["Prospecting"], next_step="")
    services.deal_move(deal=first, to_stage=stages["Qualification"], actor=rep)
    Transition.objects.create(
        pipeline=pipeline, from_stage=stages["Prospecting"], to_stage=stages["Qualification"], requires_next_step=True
    )
    second = DealFactory(owner=rep, stage=stages["Prospecting"], next_step="")
    with pytest.raises(MoveRefused, match="a next step"):
        services.deal_move(deal=second, to_stage=stages["Qualification"], actor=rep)
    Transition.objects.filter(from_stage=stages["Prospecting"], to_stage=stages["Qualification"]).delete()
    assert services.deal_move(deal=second, to_stage=stages["Qualification"], actor=rep).stage == stages["Qualification"]


# --- One decision whether a deal may be in a stage -------------------------------------------------


def test_entry_check_decides_new_deals_moves_and_deals_staying_in_their_stage(rep, stages):
    from pipeline.services import DealState, deal_entry_check

    bare = DealState(organization=OrganizationFactory())
    deal_entry_check(bare, None, stages["Prospecting"])
    with pytest.raises(MoveRefused) as refused:
        deal_entry_check(bare, None, stages["Offer"])
    assert (refused.value.code, refused.value.message) == ("requirements", "To enter “Offer”, this deal needs an amount.")
    with pytest.raises(MoveRefused) as refused:
        deal_entry_check(bare, stages["Offer"], stages["Offer"])
    assert refused.value.message == "A deal in “Offer” needs an amount."
    Transition.objects.filter(to_stage=stages["Negotiation"]).delete()
    with pytest.raises(MoveRefused) as refused:
        deal_entry_check(DealState(amount=Decimal("10"), organization=bare.organization), stages["Offer"], stages["Negotiation"])
    assert refused.value.code == "not_allowed"


def test_entry_check_applies_the_fit_score_except_to_a_deal_keeping_its_organization(rep, stages):
    from pipeline.services import DealState, deal_entry_check

    Transition.objects.filter(to_stage=stages["Qualification"], from_stage=None).update(min_fit_score=60)
    organization = OrganizationFactory()
    Organization.objects.filter(pk=organization.pk).update(fit_score=10)
    organization.refresh_from_db()
    with pytest.raises(MoveRefused) as refused:
        deal_entry_check(DealState(organization=organization), stages["Prospecting"], stages["Qualification"])
    assert refused.value.code == "fit_score"
    deal_entry_check(DealState(organization=organization), stages["Qualification"], stages["Qualification"], check_fit=False)


def test_changing_a_deals_organization_is_recorded_in_its_history(deal, rep):
    other = OrganizationFactory(name="Other Org")
    before = deal.organization_id
    services.deal_update(deal=deal, actor=rep, organization=other)
    change = DealChange.objects.get(deal=deal)
    assert (change.field, change.old_value, change.new_value, change.actor) == ("organization", str(before), str(other.pk), rep)
