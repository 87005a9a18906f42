"""My activities, the deal page's activities, notes, onboarding and upsell, and what the board shows."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape
from django.utils import timezone

from activities import services
from activities.models import Activity, Note, OnboardingTask
from pipeline import services as pipeline_services
from pipeline.models import Deal, DealChange, DealStatus, Pipeline, Stage, Transition
from tests.activities.conftest import in_hours
from tests.factories import DealFactory, OrganizationFactory, UserFactory
from tests.pipeline.test_board_queries import BOARD_MAX_QUERIES, add_deals

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def plan(deal, owner, hours, title="Call the CFO"):
    return services.activity_create(actor=owner, deal=deal, kind="call", title=title, due_at=in_hours(hours), owner=owner)


def card_html(body: str, deal) -> str:
    start = body.rindex("<article", 0, body.index(f'id="deal-{deal.pk}"'))
    return body[start : body.index("</article>", start)]


# --- My activities ---------------------------------------------------------------------------


def test_my_activities_lists_overdue_today_and_upcoming_of_the_user_only(rep_client, rep, teammate, deal, stages):
    now = timezone.localtime()
    overdue = plan(deal, rep, -30, "Overdue call")
    later_today = services.activity_create(
        actor=rep, deal=deal, kind="task", title="Later today",
        due_at=min(now + timedelta(minutes=5), now.replace(hour=23, minute=59)),
    )
    upcoming = plan(deal, rep, 72, "Next week")
    plan(DealFactory(owner=teammate, stage=stages["Prospecting"]), teammate, 1, "Sam's call")
    response = rep_client.get(reverse("activities:mine"))
    assert response.status_code == 200
    data = response.context["data"]
    assert data.overdue == [overdue]
    assert later_today in data.today or later_today in data.overdue  # 23:59 edge
    assert data.upcoming == [upcoming]
    body = text(response)
    assert "Sam&#x27;s call" not in body and "Sam's call" not in body
    assert 'href="/activities/"' in body  # the nav link


def test_my_activities_name_the_company_beside_the_deal_title(rep_client, rep, deal, django_assert_max_num_queries):
    plan(deal, rep, 5, "Send the contract")
    with django_assert_max_num_queries(12):
        body = text(rep_client.get(reverse("activities:mine")))
    row = body[body.index("Send the contract"):]
    row = row[: row.index("</li>")]
    assert f">{escape(deal.title)}</a> ({escape(deal.organization.name)})" in row


def test_mark_done_with_one_click_htmx_swaps_the_row(rep_client, rep, deal):
    activity = plan(deal, rep, -1)
    response = rep_client.post(reverse("activities:done", args=[activity.pk]), {"next": "/activities/"}, **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert f'id="activity-{activity.pk}"' in body and "is-done" in body and "hx-swap-oob" in body
    activity.refresh_from_db()
    assert activity.done_at is not None and activity.done_by == rep


def test_mark_done_without_javascript_redirects_back(rep_client, rep, deal):
    activity = plan(deal, rep, 2)
    response = rep_client.post(reverse("activities:done", args=[activity.pk]), {"next": "/activities/"})
    assert response.status_code == 302 and response["Location"] == "/activities/"
    assert Activity.objects.get(pk=activity.pk).done_at is not None
    response = rep_client.post(reverse("activities:reopen", args=[activity.pk]), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert Activity.objects.get(pk=activity.pk).done_at is None


def test_another_teams_activity_is_a_404_to_see_edit_or_complete(rep_client, outsider, stages):
    hidden = plan(DealFactory(owner=outsider, stage=stages["Prospecting"]), outsider, -1)
    for name in ("done", "reopen"):
        assert rep_client.post(reverse(f"activities:{name}", args=[hidden.pk])).status_code == 404
    assert rep_client.get(reverse("activities:edit", args=[hidden.pk])).status_code == 404
    assert rep_client.post(reverse("activities:edit", args=[hidden.pk]), {"title": "x"}).status_code == 404
    assert Activity.objects.get(pk=hidden.pk).done_at is None


def test_a_teammates_activity_is_visible_but_not_changeable(rep_client, teammate, stages):
    theirs = plan(DealFactory(owner=teammate, stage=stages["Prospecting"]), teammate, -1)
    assert rep_client.post(reverse("activities:done", args=[theirs.pk])).status_code == 403
    assert Activity.objects.get(pk=theirs.pk).done_at is None


def test_an_activity_delegated_to_me_on_a_managers_deal_can_be_completed_by_me(rep_client, rep, manager, stages):
    deal = DealFactory(owner=manager, stage=stages["Prospecting"])
    mine = services.activity_create(actor=manager, deal=deal, kind="task", title="Prepare demo", due_at=in_hours(1), owner=rep)
    assert rep_client.post(reverse("activities:done", args=[mine.pk])).status_code == 302
    assert Activity.objects.get(pk=mine.pk).done_by == rep


def test_edit_an_activity(rep_client, rep, deal):
    activity = plan(deal, rep, 1)
    url = reverse("activities:edit", args=[activity.pk])
    assert rep_client.get(url).status_code == 200
    response = rep_client.post(url, {"kind": "meeting", "title": "Demo", "due_at": "2030-01-02T10:30", "owner": rep.pk, "note": ""})
    assert response.status_code == 302
    activity.refresh_from_db()
    assert (activity.kind, activity.title, timezone.localtime(activity.due_at).hour) == ("meeting", "Demo", 10)
    assert rep_client.post(url, {"kind": "meeting", "title": "", "due_at": ""}).status_code == 400


# --- The deal page ---------------------------------------------------------------------------


def test_plan_an_activity_and_add_a_note_on_the_deal_page(rep_client, rep, deal):
    response = rep_client.post(
        reverse("activities:create", args=[deal.pk]),
        {"kind": "call", "title": "Call back", "due_at": "2030-01-02T09:00", "owner": rep.pk},
    )
    assert response.status_code == 302
    assert Activity.objects.get().deal == deal
    response = rep_client.post(reverse("activities:note_create", args=[deal.pk]), {"body": "Met at **fair**"})
    assert response.status_code == 302
    page = text(rep_client.get(deal.get_absolute_url()))
    assert "Call back" in page and "<strong>fair</strong>" in page


def test_a_read_only_or_hidden_deal_refuses_activities_and_notes(rep_client, teammate, outsider, stages):
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    data = {"kind": "call", "title": "x", "due_at": "2030-01-02T09:00"}
    assert rep_client.post(reverse("activities:create", args=[theirs.pk]), data).status_code == 403
    assert rep_client.post(reverse("activities:create", args=[hidden.pk]), data).status_code == 404
    assert rep_client.post(reverse("activities:note_create", args=[theirs.pk]), {"body": "x"}).status_code == 403
    assert rep_client.post(reverse("activities:note_create", args=[hidden.pk]), {"body": "x"}).status_code == 404
    assert not Activity.objects.exists() and not Note.objects.exists()


def test_a_note_with_script_is_shown_harmlessly_on_the_deal_page(rep_client, rep, deal):
    services.note_create(
        actor=rep, deal=deal,
        body='<script>alert("x")</script> <img src=x onerror=alert(1)> [go](javascript:alert(1)) <a href="javascript:alert(2)" onclick="y">z</a>',
    )
    page = text(rep_client.get(deal.get_absolute_url()))
    timeline = page[page.index('id="history-title"') :]
    assert "<script>alert" not in timeline
    assert "<img" not in timeline
    assert '<a href="javascript' not in timeline and "onerror=alert(1)>" not in timeline
    assert "&lt;script&gt;" in timeline


def test_the_timeline_merges_history_activities_and_notes_newest_first(rep_client, rep, deal, stages):
    activity = plan(deal, rep, -2, "First call")
    services.activity_complete(activity=activity, actor=rep)
    pipeline_services.deal_update(deal=deal, actor=rep, amount=2500)
    Note.objects.create(deal=deal, author=rep, body="Budget confirmed", created_at=timezone.now() + timedelta(seconds=1))
    response = rep_client.get(deal.get_absolute_url())
    kinds = [e.kind for e in response.context["history"]]
    assert kinds == ["note", "field", "activity", "stage"]
    ats = [e.at for e in response.context["history"]]
    assert ats == sorted(ats, reverse=True)


def test_the_deal_page_costs_the_same_queries_with_more_activities_and_notes(rep_client, rep, deal, django_assert_max_num_queries):
    def cost():
        with CaptureQueriesContext(connection) as captured:
            assert rep_client.get(deal.get_absolute_url()).status_code == 200
        return len(captured)

    plan(deal, rep, 1)
    Note.objects.create(deal=deal, author=rep, body="x")
    small = cost()
    for i in range(20):
        services.activity_complete(activity=plan(deal, rep, i), actor=rep)
        plan(deal, rep, i + 1)
        Note.objects.create(deal=deal, author=rep, body=f"note {i}")
    assert cost() == small


# --- The board -------------------------------------------------------------------------------


def test_the_card_shows_the_next_open_activity_and_overdue_in_red_with_text(rep_client, rep, stages):
    overdue_deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Late")
    plan(overdue_deal, rep, -3, "Overdue follow-up")
    plan(overdue_deal, rep, 30, "Later call")
    later_deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="On time")
    done = plan(later_deal, rep, -5, "Already done")
    services.activity_complete(activity=done, actor=rep)
    plan(later_deal, rep, 50, "Future meeting")
    idle = DealFactory(owner=rep, stage=stages["Prospecting"], title="Idle")
    body = text(rep_client.get(reverse("pipeline:board")))

    late = card_html(body, overdue_deal)
    assert "Overdue follow-up" in late and "Later call" not in late
    assert "is-overdue" in late and ">overdue<" in late

    fine = card_html(body, later_deal)
    assert "Future meeting" in fine and "Already done" not in fine and "is-overdue" not in fine

    assert "No activity planned" in card_html(body, idle)


def test_the_cards_next_activity_title_is_escaped(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    plan(deal, rep, 5, '<script>alert("x")</script>')
    card = card_html(text(rep_client.get(reverse("pipeline:board"))), deal)
    assert "<script>" not in card
    assert '<span class="sf-card-activity-title">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</span>' in card


def test_board_query_count_stays_constant_with_activities_and_checklists(client, rep, manager, stages, checklist, django_assert_max_num_queries):
    client.force_login(manager)

    def board_cost():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("pipeline:board")).status_code == 200
        return len(captured)

    def add_with_activities(n, start):
        add_deals(n, owners=[rep, manager], stages=stages, start=start)
        deals = list(Deal.objects.filter(title__startswith="Deal ").order_by("-pk")[:n])
        Activity.objects.bulk_create(
            [Activity(deal=d, owner=rep, kind="call", title=f"Call {d.pk}", due_at=in_hours(i % 48 - 24)) for i, d in enumerate(deals)]
        )
        won = [DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now()) for _ in range(2)]
        for w in won:
            services.onboarding_checklist_ensure(deal=w)

    add_with_activities(10, 0)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES):
        small = board_cost()
    add_with_activities(300, 10)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES):
        large = board_cost()
    assert small == large


def test_the_boards_cards_carry_what_a_single_card_reads_for_every_user(rep, manager, teammate, outsider, stages, checklist, win):
    """The board reads its cards' next activity and onboarding progress in one follow-up query
    (activities.extensions.load_card_data); a single card (a move's answer) reads them as
    annotations of its own query. Both must give every card the same values, for every user and
    filter."""
    from pipeline import selectors

    deals = [
        DealFactory(owner=owner, stage=stages[stage], amount=amount, title=f"Deal {i}")
        for i, (owner, stage, amount) in enumerate(
            [(rep, "Prospecting", None), (teammate, "Prospecting", 1200), (manager, "Qualification", 99.5), (outsider, "Offer", 7)]
        )
    ]
    plan(deals[0], rep, -3, "Overdue follow-up")
    plan(deals[0], rep, 30, "Later call")
    plan(deals[2], manager, 4, "Demo")
    DealFactory(owner=rep, organization=deals[1].organization, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now())
    won = DealFactory(owner=rep, stage=stages["Negotiation"], title="Big rollout", expected_close=date.today())
    win(won, rep)
    task = OnboardingTask.objects.filter(deal=won).order_by("position").first()
    services.onboarding_task_set_done(task=task, done=True, actor=rep)

    shown = ("organization_is_customer", "next_activity_title", "next_activity_due", "next_activity_kind", "onboarding_done", "onboarding_total")

    def values(card):
        return (card.pk, card.title, card.amount, card.owner.username, card.organization.name, *(getattr(card, n) for n in shown))

    pipeline = stages["Prospecting"].pipeline
    for user, filters in [(rep, {}), (manager, {}), (manager, {"owner_id": teammate.pk}), (outsider, {"q": "deal"})]:
        visible = selectors.board_deals(user=user, pipeline=pipeline, **filters)
        board = [card for cards in selectors.board_cards(visible, per_column=25).values() for card in cards]
        assert {c.pk for c in board} == set(visible.values_list("pk", flat=True))
        assert sorted(values(c) for c in board) == sorted(values(selectors.card(c.pk)) for c in board)
    cards = {card.pk: card for cards in selectors.board_cards(selectors.board_deals(user=manager, pipeline=pipeline), per_column=25).values() for card in cards}
    assert cards[deals[0].pk].next_activity_title == "Overdue follow-up" and cards[deals[0].pk].next_activity_due < timezone.now()
    assert cards[deals[1].pk].organization_is_customer is True and cards[deals[0].pk].organization_is_customer is False
    assert (cards[won.pk].onboarding_done, cards[won.pk].onboarding_total) == (1, 3)
    assert cards[deals[2].pk].amount == Decimal("99.50")
    assert cards[deals[1].pk].next_activity_title is None


def test_won_cards_show_onboarding_progress_and_leave_the_board_when_complete(rep_client, rep, negotiation_deal, checklist, win):
    win(negotiation_deal, rep)
    tasks = list(OnboardingTask.objects.filter(deal=negotiation_deal).order_by("position"))
    rep_client.post(reverse("activities:onboarding_toggle", args=[tasks[0].pk]), {"done": "1"})
    body = text(rep_client.get(reverse("pipeline:board")))
    assert "Onboarding 1/3" in card_html(body, negotiation_deal)

    for task in tasks[1:]:
        response = rep_client.post(reverse("activities:onboarding_toggle", args=[task.pk]), {"done": "1"}, **HTMX)
        assert response.status_code == 200
    assert "Onboarding complete" in text(response)
    assert f'id="deal-{negotiation_deal.pk}"' not in text(rep_client.get(reverse("pipeline:board")))


def test_won_deals_leave_the_board_after_the_configured_days(rep_client, rep, stages, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "WON_DEALS_ON_BOARD_DAYS": 10}
    recent = DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now() - timedelta(days=9))
    old = DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now() - timedelta(days=11))
    body = text(rep_client.get(reverse("pipeline:board")))
    assert f'id="deal-{recent.pk}"' in body and f'id="deal-{old.pk}"' not in body


def test_onboarding_of_another_teams_deal_is_a_404_and_a_teammates_a_403(rep_client, outsider, teammate, stages, checklist):
    for owner, status in ((outsider, 404), (teammate, 403)):
        won = DealFactory(owner=owner, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now())
        services.onboarding_checklist_ensure(deal=won)
        task = OnboardingTask.objects.filter(deal=won).first()
        assert rep_client.post(reverse("activities:onboarding_toggle", args=[task.pk]), {"done": "1"}).status_code == status
        assert OnboardingTask.objects.get(pk=task.pk).done_at is None


def test_customers_are_marked_on_cards_organization_list_and_organization_page(rep_client, rep, stages, django_assert_max_num_queries):
    customer = OrganizationFactory(name="Acme Customer", owner=rep)
    prospect = OrganizationFactory(name="Prospect Ltd", owner=rep)
    DealFactory(owner=rep, organization=customer, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now())
    upsell = DealFactory(owner=rep, organization=customer, stage=stages["Prospecting"], title="More seats")
    fresh = DealFactory(owner=rep, organization=prospect, stage=stages["Prospecting"], title="First deal")
    body = text(rep_client.get(reverse("pipeline:board")))
    assert "Customer" in card_html(body, upsell) and "Customer" not in card_html(body, fresh)

    for i in range(30):
        OrganizationFactory(name=f"Lead {i:02}", owner=rep)
    with django_assert_max_num_queries(8):
        listing = text(rep_client.get(reverse("qualification:lead_list"), {"show": "all"}))
    row = listing[listing.index("Acme Customer") : listing.index("</tr>", listing.index("Acme Customer"))]
    assert "sf-customer-badge" in row
    other = listing[listing.index("Prospect Ltd") : listing.index("</tr>", listing.index("Prospect Ltd"))]
    assert "sf-customer-badge" not in other
    assert "sf-customer-badge" in text(rep_client.get(customer.get_absolute_url()))
    assert "sf-customer-badge" not in text(rep_client.get(prospect.get_absolute_url()))
    # A lead is an organisation that is not a customer yet: the lead list shows customers when asked.
    leads = text(rep_client.get(reverse("qualification:lead_list")))
    assert "Prospect Ltd" in leads and "Acme Customer" not in leads
    customers = text(rep_client.get(reverse("qualification:lead_list"), {"show": "customers"}))
    assert "Acme Customer" in customers and "Prospect Ltd" not in customers


def test_new_upsell_deal_from_a_won_deal(rep_client, rep, stages):
    upsell_pipeline = Pipeline.objects.create(name="Upsell", position=1)
    idea = Stage.objects.create(pipeline=upsell_pipeline, name="Idea", position=0)
    Transition.objects.create(pipeline=upsell_pipeline, to_stage=idea)
    won = DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now())
    page = text(rep_client.get(won.get_absolute_url()))
    assert "New upsell deal" in page
    response = rep_client.post(reverse("activities:upsell", args=[won.pk]), {"pipeline": upsell_pipeline.pk, "title": "Add-on"})
    new = Deal.objects.get(title="Add-on")
    assert response.status_code == 302 and response["Location"] == new.get_absolute_url()
    assert new.organization_id == won.organization_id and new.stage == idea and new.owner == rep


# --- Snoozing rotting warnings --------------------------------------------------------------


def test_snoozing_hides_the_rotting_mark_until_the_date_and_the_deal_page_says_why(rep_client, rep, stages):
    stage = stages["Qualification"]
    stage.rotting_days = 5
    stage.save()
    deal = DealFactory(owner=rep, stage=stage, stage_entered_at=timezone.now() - timedelta(days=20))
    board = reverse("pipeline:board")
    assert "is-rotting" in card_html(text(rep_client.get(board)), deal)

    until = timezone.localdate() + timedelta(days=7)
    response = rep_client.post(
        reverse("pipeline:deal_snooze", args=[deal.pk]),
        {"until": until.isoformat(), "reason": "Customer on holiday", "version": deal.version},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.rotting_snoozed_until, deal.rotting_snooze_reason) == (until, "Customer on holiday")
    assert "is-rotting" not in card_html(text(rep_client.get(board)), deal)
    page = text(rep_client.get(deal.get_absolute_url()))
    assert "Customer on holiday" in page and "snoozed until" in page.lower()
    assert DealChange.objects.filter(deal=deal, field="rotting_snooze").count() == 1

    # After the date, the warning is back.
    Deal.objects.filter(pk=deal.pk).update(rotting_snoozed_until=timezone.localdate())
    assert "is-rotting" in card_html(text(rep_client.get(board)), deal)


def test_a_snooze_needs_a_future_date_and_a_reason_and_can_be_ended(rep_client, rep, deal):
    url = reverse("pipeline:deal_snooze", args=[deal.pk])
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert rep_client.post(url, {"until": past, "reason": "x", "version": deal.version}).status_code == 400
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert rep_client.post(url, {"until": future, "reason": "", "version": deal.version}).status_code == 400
    assert rep_client.post(url, {"until": future, "reason": "Waiting", "version": deal.version}).status_code == 302
    deal.refresh_from_db()
    assert rep_client.post(url, {"clear": "1", "version": deal.version}).status_code == 302
    deal.refresh_from_db()
    assert deal.rotting_snoozed_until is None and deal.rotting_snooze_reason == ""


def test_snoozing_a_teammates_or_hidden_deal_is_refused(rep_client, teammate, outsider, stages):
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    data = {"until": future, "reason": "x", "version": 1}
    assert rep_client.post(reverse("pipeline:deal_snooze", args=[theirs.pk]), data).status_code == 403
    assert rep_client.post(reverse("pipeline:deal_snooze", args=[hidden.pk]), data).status_code == 404


# --- Forecast category on the edit form ----------------------------------------------------


def test_the_rep_sets_the_forecast_category_on_the_deal_page(rep_client, rep, deal):
    page = text(rep_client.get(deal.get_absolute_url()))
    assert 'name="forecast_category"' in page
    response = rep_client.post(
        deal.get_absolute_url(),
        {"title": deal.title, "organization": deal.organization_id, "amount": "1000", "currency": "EUR", "owner": rep.pk,
         "forecast_category": "commit", "version": deal.version},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.forecast_category == "commit"
    assert DealChange.objects.filter(deal=deal, field="forecast_category", new_value="commit").exists()


# --- Sign-in --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, name, arg",
    [
        ("get", "activities:mine", None), ("get", "activities:edit", "activity"), ("post", "activities:done", "activity"),
        ("post", "activities:reopen", "activity"), ("post", "activities:create", "deal"),
        ("post", "activities:note_create", "deal"), ("post", "activities:upsell", "deal"),
        ("post", "activities:onboarding_toggle", "deal"), ("post", "activities:organization_create", "organization"),
        ("post", "activities:organization_note_create", "organization"), ("post", "activities:person_create", "person"),
        ("post", "activities:person_note_create", "person"),
    ],
)
def test_every_activities_url_requires_sign_in(client, rep, deal, method, name, arg):
    activity = plan(deal, rep, 1)
    args = {"activity": [activity.pk], "deal": [deal.pk], "organization": [deal.organization_id],
            "person": [deal.organization.main_contact_id], None: []}[arg]
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Activity.objects.get(pk=activity.pk).done_at is None


# --- The lead page ---------------------------------------------------------------------------


def test_plan_an_activity_and_write_a_note_on_an_organization(rep_client, rep):
    organization = OrganizationFactory(owner=rep, name="Fair contact GmbH")
    response = rep_client.post(
        reverse("activities:organization_create", args=[organization.pk]),
        {"kind": "email", "title": "Send brochure", "due_at": "2030-01-02T09:00", "owner": rep.pk},
    )
    assert response.status_code == 302
    activity = Activity.objects.get()
    assert activity.organization == organization and activity.deal is None
    rep_client.post(reverse("activities:organization_note_create", args=[organization.pk]), {"body": "Met at the fair <script>x</script>"})
    page = text(rep_client.get(organization.get_absolute_url()))
    assert "Send brochure" in page and "Met at the fair" in page and "<script>x" not in page
    assert rep_client.post(reverse("activities:done", args=[activity.pk])).status_code == 302


def test_a_hidden_organizations_activities_are_a_404(rep_client, outsider):
    hidden = OrganizationFactory(owner=outsider)
    activity = services.activity_create(actor=outsider, organization=hidden, kind="call", title="x", due_at=in_hours(1))
    assert rep_client.post(reverse("activities:done", args=[activity.pk])).status_code == 404
    data = {"kind": "call", "title": "x", "due_at": "2030-01-02T09:00"}
    assert rep_client.post(reverse("activities:organization_create", args=[hidden.pk]), data).status_code == 404
    assert rep_client.post(reverse("activities:organization_note_create", args=[hidden.pk]), {"body": "x"}).status_code == 404


def test_a_moved_card_keeps_its_next_activity(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Moving")
    plan(deal, rep, -1, "Overdue before the move")
    response = rep_client.post(
        reverse("pipeline:deal_move", args=[deal.pk]), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX
    )
    assert response.status_code == 200
    body = text(response)
    assert "Overdue before the move" in body and "is-overdue" in body
