"""The board's column totals of open deals come from OpenStageTotal, which database triggers keep
in the transaction of every write to a deal. They must always equal a full recount, whichever way
the deals were written (services, bulk inserts, plain ORM updates, deletes), and the board must
show the same figures as summing the deals live, for every role and filter."""
import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline import selectors, services
from pipeline.models import Deal, DealStatus, OpenStageTotal
from pipeline.tasks import open_stage_totals_check
from tests.factories import DealFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db


def live(user, pipeline, **filters):
    """The board's totals summed from the deals themselves (the reference)."""
    return selectors.stage_totals(selectors.board_deals(user=user, pipeline=pipeline, **filters))


def maintained(user, pipeline, **filters):
    return selectors.board_stage_totals(user=user, pipeline=pipeline, **filters)


@pytest.fixture
def mixed(rep, manager, admin_user, stages, team):
    """Deals of two reps (one in the manager's team, one outside it) in several stages and
    currencies, some without an amount, some with their own probability, one won and one lost."""
    outsider = UserFactory(username="otto", role="rep")
    teammate = UserFactory(username="tina", role="rep", team=team)
    made = [
        DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.10")),
        DealFactory(owner=rep, stage=stages["Prospecting"], amount=None),
        DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("333.33"), currency="USD"),
        DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("250.05"), probability=35,
                    expected_close=date(2030, 1, 31)),
        DealFactory(owner=teammate, stage=stages["Qualification"], amount=Decimal("99.99")),
        DealFactory(owner=outsider, stage=stages["Qualification"], amount=Decimal("5000.00"), currency="CHF"),
        DealFactory(owner=outsider, stage=stages["Negotiation"], amount=Decimal("70.00"), probability=90),
        DealFactory(
            owner=rep, stage=stages["Retention"], amount=Decimal("800.00"), status=DealStatus.WON,
            closed_at=timezone.now() - timedelta(days=2),
        ),
        DealFactory(
            owner=rep, stage=stages["Offer"], amount=Decimal("12.00"), status=DealStatus.LOST,
            lost_reason=lost_reason(), closed_at=timezone.now(),
        ),
    ]
    return {"outsider": outsider, "teammate": teammate, "deals": made}


def test_the_maintained_totals_equal_a_recount_after_every_kind_of_write(rep, manager, stages, mixed):
    deals = mixed["deals"]
    assert selectors.open_stage_totals_drift() == []
    services.deal_move(deal=deals[0], to_stage=stages["Qualification"], actor=rep)  # open → open
    services.deal_move(deal=deals[3], to_stage=stages["Retention"], actor=rep)  # open → won
    services.deal_move(deal=deals[7], to_stage=stages["Negotiation"], actor=rep)  # won → open again
    services.deal_mark_lost(deal=deals[2], reason=lost_reason(), actor=rep)  # open → lost
    services.deal_reopen(deal=deals[8], actor=rep)  # lost → open
    services.deal_update(deal=deals[4], actor=manager, amount=Decimal("120.00"), currency="CHF", probability=15)
    services.deal_update(deal=deals[1], actor=rep, amount=Decimal("7.50"))  # first amount
    services.deal_update(deal=deals[5], actor=mixed["outsider"], owner=rep)
    services.deals_bulk_import(
        deals=[
            {
                "pipeline": stages["Offer"].pipeline, "stage": stages["Offer"], "organization": deals[0].organization,
                "title": "Imported", "amount": Decimal("44.40"), "currency": "EUR", "owner": rep,
            }
        ]
    )  # fmt: skip
    Deal.objects.filter(pk=deals[6].pk).update(amount=Decimal("71.00"), probability=None)  # around the services
    Deal.objects.filter(pk=deals[4].pk).delete()
    assert selectors.open_stage_totals_drift() == []


def test_a_stage_probability_change_reaches_the_weighted_totals_without_touching_the_rows(rep, stages, mixed):
    before = list(OpenStageTotal.objects.order_by("pk").values())
    offer = stages["Offer"]
    offer.probability = 50
    offer.save(update_fields=["probability"])
    assert list(OpenStageTotal.objects.order_by("pk").values()) == before
    totals, _converted = maintained(rep, offer.pipeline)
    # 333.33 USD at the stage's 50 % (166.665, rounded half to even); 250.05 EUR at its own 35 %
    assert {t.currency: t.weighted for t in totals[offer.pk]} == {"EUR": Decimal("87.52"), "USD": Decimal("166.66")}
    assert maintained(rep, offer.pipeline) == live(rep, offer.pipeline)


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user", "outsider"])
def test_the_board_totals_equal_the_deals_summed_live_for_every_role(request, who, stages, mixed):
    user = mixed["outsider"] if who == "outsider" else request.getfixturevalue(who)
    pipeline = stages["Offer"].pipeline
    totals = maintained(user, pipeline)
    assert totals == live(user, pipeline)
    assert totals[0], "every role here sees some deals"


def test_a_manager_sees_the_totals_of_the_team_and_not_of_others(manager, stages, mixed):
    totals, _converted = maintained(manager, stages["Offer"].pipeline)
    assert stages["Negotiation"].pk not in totals  # only the outsider's deal sits there
    assert [(t.currency, t.count) for t in totals[stages["Qualification"].pk]] == [("EUR", 1)]  # the teammate's


def test_filters_give_the_same_totals_as_summing_the_deals_live(rep, manager, admin_user, stages, mixed):
    pipeline = stages["Offer"].pipeline
    for user, filters in [
        (admin_user, {"owner_id": rep.pk}),
        (manager, {"owner_id": mixed["teammate"].pk}),
        (admin_user, {"q": "Deal"}),
        (rep, {"close_from": date(2000, 1, 1), "close_to": date(2100, 1, 1)}),
    ]:
        assert maintained(user, pipeline, **filters) == live(user, pipeline, **filters), filters


def test_the_board_totals_are_one_query_for_any_number_of_deals(rep, stages):
    pipeline = stages["Offer"].pipeline
    for _ in range(30):
        DealFactory(owner=rep, stage=stages["Meeting & demo"])
    with CaptureQueriesContext(connection) as ctx:
        maintained(rep, pipeline)
    assert len(ctx.captured_queries) == 1


def test_an_open_deal_column_without_amounts_counts_its_deals_but_shows_no_total(rep, stages):
    DealFactory(owner=rep, stage=stages["Qualification"], amount=None)
    totals, converted = maintained(rep, stages["Offer"].pipeline)
    assert [(t.count, t.has_amount) for t in totals[stages["Qualification"].pk]] == [(1, False)]
    assert stages["Qualification"].pk not in converted


def test_drift_is_reported_and_repaired_by_the_periodic_check(rep, stages, mixed, caplog):
    row = OpenStageTotal.objects.get(stage=stages["Prospecting"], owner=rep, currency="EUR")
    OpenStageTotal.objects.filter(pk=row.pk).update(deals=7, amount=Decimal("1.00"))
    drift = selectors.open_stage_totals_drift()
    assert [(d["stage_id"], d["stored"]["deals"], d["counted"]["deals"]) for d in drift] == [
        (stages["Prospecting"].pk, 7, 2)
    ]
    with caplog.at_level(logging.ERROR, logger="pipeline.tasks"):
        assert open_stage_totals_check.apply().get() == 1
    assert "differ from a recount in 1 cells" in caplog.text
    assert selectors.open_stage_totals_drift() == []
    assert open_stage_totals_check.apply().get() == 0


def test_a_missing_row_is_drift_too_and_the_rebuild_restores_it(rep, stages, mixed):
    OpenStageTotal.objects.filter(owner=rep).delete()
    assert {d["stored"] for d in selectors.open_stage_totals_drift()} == {None}
    services.open_stage_totals_rebuild()
    assert selectors.open_stage_totals_drift() == []
    assert maintained(rep, stages["Offer"].pipeline) == live(rep, stages["Offer"].pipeline)


def test_a_stage_emptied_of_open_deals_keeps_no_totals_row(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("10.00"))
    assert OpenStageTotal.objects.filter(stage=stages["Prospecting"]).exists()
    services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    assert not OpenStageTotal.objects.filter(stage=stages["Prospecting"]).exists()
    assert OpenStageTotal.objects.get(stage=stages["Qualification"]).deals == 1


def test_the_open_totals_triggers_survive_every_migration(rep, stages):
    """A migration that adds a column to the deal table (custom fields did) makes SQLite copy the
    table, which drops its triggers; the post_migrate check creates them again and recounts.
    PostgreSQL alters the table in place: its triggers stay, and the check leaves them alone."""
    from django.apps import apps
    from django.db.models.signals import post_migrate

    from pipeline.triggers import TRIGGERS, sqlite_triggers_missing, sqlite_triggers_restore

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'pipeline_deal'::regclass AND NOT tgisinternal")
            assert set(TRIGGERS) <= {row[0] for row in cursor.fetchall()}
        assert sqlite_triggers_restore() is False
        return
    assert not sqlite_triggers_missing()  # the test database went through every migration
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("700"))  # written while they are missing
    assert sqlite_triggers_missing() == set(TRIGGERS)
    assert selectors.open_stage_totals_drift()

    post_migrate.send(sender=apps.get_app_config("pipeline"), app_config=apps.get_app_config("pipeline"),
                      verbosity=0, interactive=False, using="default", plan=[], apps=apps)
    assert not sqlite_triggers_missing() and selectors.open_stage_totals_drift() == []
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("300"))  # and they count again
    assert selectors.open_stage_totals_drift() == []
