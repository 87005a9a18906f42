"""The board's column totals in the reporting currency: open deals at today's rate, won deals at
the rate of their close date, the amounts as entered one click away, a missing rate shown as a
warning (never a zero or 1:1), and not one query more than before."""
from datetime import date, datetime, timezone as tz
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from currencies.models import BudgetRate, ExchangeRate
from pipeline import selectors
from pipeline.models import Deal, DealStatus
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2025-06-04 10:00:00+00:00", tick=False):
        yield


def rate(currency, day, value):
    ExchangeRate.objects.create(currency=currency, day=date.fromisoformat(day), rate=Decimal(value))


def won(deal_stage, owner, amount, currency, closed):
    return DealFactory(
        owner=owner, stage=deal_stage, amount=Decimal(amount), currency=currency, status=DealStatus.WON,
        closed_at=datetime.fromisoformat(closed).replace(tzinfo=tz.utc), probability=None,
    )  # fmt: skip


def totals(rep, stages):
    return selectors.stage_totals(selectors.board_deals(user=rep, pipeline=stages["Offer"].pipeline))


def test_open_deals_convert_at_todays_rate(rep, stages):
    rate("USD", "2025-05-30", "0.90")
    rate("USD", "2025-06-03", "0.88")  # the latest on or before today
    rate("USD", "2025-06-05", "0.70")  # tomorrow's, not known today
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="EUR")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("333.33"), currency="USD")
    by_currency, converted = totals(rep, stages)
    offer = converted[stages["Offer"].pk]
    # 1000 + 333.33 × 0.88 = 1293.3304 → 1293.33; weighted at the Offer stage's 60 %: 775.998 → 776.00
    assert (offer.currency, offer.total, offer.weighted) == ("EUR", Decimal("1293.33"), Decimal("776.00"))
    assert offer.needed and offer.warnings == []
    assert [t.currency for t in by_currency[stages["Offer"].pk]] == ["EUR", "USD"]  # the originals stay


def test_won_deals_convert_at_the_rate_of_their_close_date(rep, stages):
    rate("USD", "2025-05-12", "0.90")
    rate("USD", "2025-05-26", "0.85")
    rate("USD", "2025-06-03", "0.88")
    retention = stages["Retention"]
    won(retention, rep, "1000.00", "USD", "2025-05-12T15:00:00")
    won(retention, rep, "1000.00", "USD", "2025-05-27T09:00:00")  # the day after a rate: that rate
    _by_currency, converted = totals(rep, stages)
    column = converted[retention.pk]
    assert column.total == Decimal("1750.00")  # 900 + 850, not 2 × today's 880
    assert column.weighted == Decimal("1750.00")


def test_a_missing_rate_is_a_warning_and_is_left_out_not_zero_or_one_to_one(rep, stages):
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="EUR")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("500.00"), currency="CHF")
    _by_currency, converted = totals(rep, stages)
    offer = converted[stages["Offer"].pk]
    assert offer.total == Decimal("1000.00")  # CHF left out, not added 1:1 (1500) …
    assert offer.missing == [
        {"currency": "CHF", "first": "2025-06-04", "last": "2025-06-04", "budget": False, "count": 1, "amount": "500.00"}
    ]
    assert offer.warnings == [
        "No CHF → EUR rate for 4 Jun 2025. 1 deal (CHF\xa0500) is left out of the EUR figures."
    ]


def test_a_rate_too_old_for_today_is_missing(rep, stages):
    rate("USD", "2025-05-20", "0.88")  # 15 days old
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100.00"), currency="USD")
    _by_currency, converted = totals(rep, stages)
    offer = converted[stages["Offer"].pk]
    assert not offer.shown and offer.missing[0]["currency"] == "USD"


def test_budget_mode_converts_open_deals_at_the_years_budget_rate(rep, stages, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "OPEN_DEALS_RATE": "budget"}
    rate("USD", "2025-06-03", "0.88")
    BudgetRate.objects.create(currency="USD", year=2025, rate=Decimal("0.95"))
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100.00"), currency="USD")
    won(stages["Retention"], rep, "100.00", "USD", "2025-06-03T09:00:00")
    _by_currency, converted = totals(rep, stages)
    assert converted[stages["Offer"].pk].total == Decimal("95.00")
    assert converted[stages["Retention"].pk].total == Decimal("88.00")  # won: still its day's rate


def test_the_board_shows_one_converted_total_and_the_originals_one_click_away(client, rep, stages):
    rate("USD", "2025-06-03", "0.88")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="EUR")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="USD")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("50.00"), currency="GBP")
    client.force_login(rep)
    page = client.get(reverse("pipeline:board")).content.decode()
    head = page[page.index(f'id="col-head-{stages["Offer"].pk}"'):]
    head = head[: head.index("</header>")]
    assert '<span class="sf-total" data-total="1880.00">€1,880</span>' in head
    assert "<details class=\"sf-originals\">" in head
    assert '<span class="sf-original-total" data-total="1000.00">$1,000</span>' in head
    assert '<span class="sf-rate-missing">Rate missing</span>' in head
    assert "No GBP → EUR rate for 4 Jun 2025. 1 deal (£50) is left out of the EUR figures." in head


def test_a_column_in_the_reporting_currency_alone_shows_its_total_as_before(client, rep, stages):
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1200.00"), currency="EUR")
    client.force_login(rep)
    page = client.get(reverse("pipeline:board")).content.decode()
    head = page[page.index(f'id="col-head-{stages["Offer"].pk}"'):]
    head = head[: head.index("</header>")]
    assert '<span class="sf-total" data-total="1200.00">€1,200</span>' in head
    assert "sf-originals" not in head


def test_german_shows_the_converted_total_and_the_warning_in_german(client, rep, stages):
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="EUR")
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("10.00"), currency="USD")
    client.force_login(rep)
    page = client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Kurs fehlt" in page
    assert "Kein Kurs USD → EUR für den 04.06.2025. 1 Deal (10\xa0$) fehlt in den Zahlen in EUR." in page


def test_rates_cost_the_board_no_query(client, rep, stages):
    for i in range(6):
        DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100"), currency=("EUR", "USD", "CHF")[i % 3])
    client.force_login(rep)
    client.get(reverse("pipeline:board"))
    with CaptureQueriesContext(connection) as without_rates:
        client.get(reverse("pipeline:board"))
    rate("USD", "2025-06-03", "0.88")
    rate("CHF", "2025-06-03", "1.06")
    with CaptureQueriesContext(connection) as with_rates:
        client.get(reverse("pipeline:board"))
    assert len(with_rates) == len(without_rates)


def test_deals_keep_their_own_currency_and_amount(rep, stages):
    rate("USD", "2025-06-03", "0.88")
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), currency="USD")
    totals(rep, stages)
    deal = Deal.objects.get(pk=deal.pk)
    assert (deal.amount, deal.currency) == (Decimal("1000.00"), "USD")
