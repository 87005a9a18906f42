"""What the board and a move cost in queries: constant in the number of deals, and small."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Deal, Organization, StageChange
from tests.factories import DealFactory, UserFactory

pytestmark = pytest.mark.django_db

# 8, and 1 for the deal fields the cards show (pipeline.custom_fields.card_definitions, lists.cards).
BOARD_MAX_QUERIES = 9
MOVE_MAX_QUERIES = 10


def add_deals(n: int, *, owners, stages, start: int = 0) -> None:
    """`n` open deals spread over the open stages, owners and three currencies (bulk, no services)."""
    open_stages = [s for s in stages.values() if not s.is_won]
    organizations = Organization.objects.bulk_create([Organization(name=f"Company {start + i}") for i in range(max(1, n // 5))])
    now = timezone.now()
    deals = [
        Deal(
            pipeline_id=open_stages[0].pipeline_id,
            stage=open_stages[i % len(open_stages)],
            organization=organizations[i % len(organizations)],
            title=f"Deal {start + i}",
            amount=Decimal(1000 + i),
            currency=("EUR", "USD", "GBP")[i % 3],
            expected_close=date(2027, 1, 1) + timedelta(days=i % 90),
            owner=owners[i % len(owners)],
            next_step="Call back" if i % 2 else "",
            stage_entered_at=now - timedelta(hours=i),
        )
        for i in range(n)
    ]
    Deal.objects.bulk_create(deals, batch_size=500)


def board_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("pipeline:board"), params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
@pytest.mark.parametrize("params", [{}, {"q": "deal", "owner": "OWNER", "close_from": "2027-01-01"}], ids=["plain", "filtered"])
def test_the_board_costs_the_same_few_queries_for_10_and_1000_deals(
    client, request, who, params, stages, rep, manager, django_assert_max_num_queries
):
    user = request.getfixturevalue(who)
    teammate = UserFactory(username="sam", role="rep", team=rep.team)
    owners = [rep, teammate, manager]
    params = {k: (rep.pk if v == "OWNER" else v) for k, v in params.items()}
    client.force_login(user)

    add_deals(10, owners=owners, stages=stages)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES):
        small = board_queries(client, **params)

    add_deals(990, owners=owners, stages=stages, start=10)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES):
        large = board_queries(client, **params)

    assert small == large
    print(f"\nboard queries for {who} {params or ''}: {small} with 10 deals, {large} with 1,000 deals")


def test_load_more_costs_the_same_for_any_column_length(client, rep, stages, django_assert_max_num_queries):
    client.force_login(rep)
    add_deals(100, owners=[rep], stages=stages)
    stage = stages["Prospecting"]
    url = reverse("pipeline:board")
    params = {"stage": stage.pk, "offset": 10}
    with CaptureQueriesContext(connection) as first:
        client.get(url, params, HTTP_HX_REQUEST="true")
    add_deals(900, owners=[rep], stages=stages, start=100)
    with django_assert_max_num_queries(BOARD_MAX_QUERIES):
        with CaptureQueriesContext(connection) as second:
            client.get(url, params, HTTP_HX_REQUEST="true")
    assert len(first) == len(second)


def without_savepoints(captured) -> list[str]:
    """The statements the request ran, without the SAVEPOINT/RELEASE pair that only exists because
    the test runs inside a transaction (in production the service's atomic block is the outermost
    one: no statement on PostgreSQL, one BEGIN on SQLite)."""
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.mark.parametrize("who", ["rep", "admin_user"])
def test_a_move_costs_at_most_10_queries(client, request, who, rep, stages, django_assert_max_num_queries):
    user = request.getfixturevalue(who)
    add_deals(200, owners=[rep], stages=stages)
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"])
    client.force_login(user)
    url = reverse("pipeline:deal_move", args=[deal.pk])
    with django_assert_max_num_queries(MOVE_MAX_QUERIES + 2) as captured:
        response = client.post(url, {"stage": stages["Offer"].pk, "version": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    statements = without_savepoints(captured)
    assert len(captured) - len(statements) == 2
    assert len(statements) <= MOVE_MAX_QUERIES, "\n".join(statements)
    deal.refresh_from_db()
    assert deal.stage == stages["Offer"]
    assert StageChange.objects.filter(deal=deal).count() == 2
    print(f"\nmove queries for {who}: {len(statements)} (+2 test savepoints)")


def test_a_move_costs_the_same_for_10_and_1000_deals(client, rep, stages):
    client.force_login(rep)

    def move_cost(deal) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.post(
                reverse("pipeline:deal_move", args=[deal.pk]), {"stage": stages["Offer"].pk, "version": 1},
                HTTP_HX_REQUEST="true",
            )
        return len(captured)

    add_deals(10, owners=[rep], stages=stages)
    small = move_cost(DealFactory(owner=rep, stage=stages["Qualification"]))
    add_deals(990, owners=[rep], stages=stages, start=10)
    large = move_cost(DealFactory(owner=rep, stage=stages["Qualification"]))
    assert small == large


@pytest.fixture
def default_pipeline_rows(transactional_db):
    """A transactional test starts from a flushed database when another one ran before it: put
    back the default pipeline that the data migration creates."""
    import importlib

    from django.apps import apps

    from pipeline.models import Pipeline

    if not Pipeline.objects.exists():
        importlib.import_module("pipeline.migrations.0002_default_pipeline").create_defaults(apps, None)


@pytest.fixture
def worker_takes_the_outbox(monkeypatch):
    """Production: after the commit the request only hands the outbox messages to the broker."""
    from config.celery import app as celery_app
    from outbox import tasks as outbox_tasks

    handed = []
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(outbox_tasks.outbox_dispatch, "delay", handed.append)
    yield handed
    assert handed, "the move's follow-ups were handed to the worker"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["rep", "admin_user"])
def test_the_whole_htmx_move_request_runs_at_most_10_queries(
    default_pipeline_rows, client, request, who, rep, django_assert_max_num_queries, worker_takes_the_outbox
):
    """Everything one move costs, as in production: the session and the user, the move in its own
    transaction (BEGIN and COMMIT are statements too) with its follow-ups recorded in the outbox,
    and the answer (the card and both column headers). The worker carries the follow-ups out."""
    from tests.factories import default_pipeline

    stages = {s.name: s for s in default_pipeline().stages.all()}
    user = request.getfixturevalue(who)
    add_deals(200, owners=[rep], stages=stages)
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"])
    client.force_login(user)
    url = reverse("pipeline:deal_move", args=[deal.pk])
    with django_assert_max_num_queries(MOVE_MAX_QUERIES) as captured:
        response = client.post(url, {"stage": stages["Offer"].pk, "version": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Offer"].pk}"' in body and f'id="deal-{deal.pk}"' in body
    assert f'id="col-head-{stages["Offer"].pk}"' in body and f'id="col-head-{stages["Meeting & demo"].pk}"' in body
    deal.refresh_from_db()
    assert (deal.stage, deal.version) == (stages["Offer"], 2)
    assert StageChange.objects.filter(deal=deal).count() == 2
    print(f"\nwhole move request for {who}: {len(captured)} queries")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["rep", "admin_user"])
def test_the_whole_api_move_request_runs_at_most_10_queries(
    default_pipeline_rows, request, who, rep, django_assert_num_queries, worker_takes_the_outbox
):
    """A move through the REST API with a personal token, as in production: the token and its
    user, the deal read with the target stage, the move in its own transaction with its
    follow-ups recorded in the outbox (the worker carries them out). The answer is the moved
    deal, not read again."""
    from rest_framework.test import APIClient

    from api.models import ApiToken
    from tests.factories import default_pipeline

    stages = {s.name: s for s in default_pipeline().stages.all()}
    user = request.getfixturevalue(who)
    add_deals(200, owners=[rep], stages=stages)
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"])
    _, key = ApiToken.issue(user=user, name="Queries")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/deals/{deal.pk}/move/"
    # Exactly 10 on both databases, the token's last use included (written at most once a minute).
    with django_assert_num_queries(MOVE_MAX_QUERIES) as captured:
        response = client.post(url, {"stage": stages["Offer"].pk, "version": 1}, format="json")
    count = len(captured)  # before the next request empties the query log
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["stage"], body["stage_name"], body["version"]) == (stages["Offer"].pk, "Offer", 2)
    assert (body["owner"], body["owner_name"], body["organization_name"]) == (rep.pk, str(rep), deal.organization.name)
    assert body["effective_probability"] == stages["Offer"].probability
    # The same answer as reading the deal afresh.
    assert body == client.get(f"/api/v1/deals/{deal.pk}/").json()
    deal.refresh_from_db()
    assert (deal.stage, deal.version) == (stages["Offer"], 2)
    print(f"\nwhole API move request for {who}: {count} queries")


@pytest.mark.django_db(transaction=True)
def test_a_card_moved_into_won_and_back_shows_its_customer_mark_and_onboarding(default_pipeline_rows, client, rep):
    """Winning makes the lead a customer and gives the deal its onboarding checklist (after the
    commit): the card in the answer shows both at once; moved back to an open stage, neither."""
    from activities.models import OnboardingItem
    from tests.factories import default_pipeline

    pipeline = default_pipeline()
    stages = {s.name: s for s in pipeline.stages.all()}
    OnboardingItem.objects.get_or_create(pipeline=pipeline, title="Kick-off call", defaults={"position": 1})
    deal = DealFactory(
        owner=rep, stage=stages["Negotiation"], amount=Decimal("1000"), expected_close=date.today(), next_step="Sign"
    )
    client.force_login(rep)
    url = reverse("pipeline:deal_move", args=[deal.pk])
    won = client.post(url, {"stage": stages["Retention"].pk, "version": 1}, HTTP_HX_REQUEST="true")
    assert won.status_code == 200, won.content[:300]
    card = won.content.decode()
    assert "sf-customer-badge" in card and "sf-card-onboarding" in card
    back = client.post(url, {"stage": stages["Negotiation"].pk, "version": 2}, HTTP_HX_REQUEST="true")
    assert back.status_code == 200, back.content[:300]
    assert "sf-customer-badge" not in back.content.decode() and "sf-card-onboarding" not in back.content.decode()


def test_a_card_data_loader_runs_once_for_all_the_cards_of_the_board(client, rep, stages, monkeypatch):
    """What another app shows on the cards is read once per response for all of them (its card
    data loader), not once per card."""
    from pipeline import extensions

    calls = []

    def loader(cards):
        calls.append(sorted(card.pk for card in cards))
        for card in cards:
            card.test_answer = 42

    monkeypatch.setitem(extensions._card_data_loaders, "test", loader)
    add_deals(30, owners=[rep], stages=stages)
    client.force_login(rep)
    assert client.get(reverse("pipeline:board")).status_code == 200
    assert len(calls) == 1 and len(calls[0]) == 30
