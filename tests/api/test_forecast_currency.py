"""GET /api/v1/forecast/ in the reporting currency: beside the amounts per currency, each period has
the same forecast with every deal converted (open deals at the as-of day's rate, won ones at the
rate of the day they were won), and the response says which rates were used and what is missing."""
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine

from currencies.models import ExchangeRate
from pipeline.models import DealStatus
from tests.api.conftest import client_for
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
WON_AT = datetime(2026, 3, 2, 12, tzinfo=dt_timezone.utc)


@pytest.fixture(autouse=True)
def mid_month():
    with time_machine.travel(datetime(2026, 3, 12, 9, tzinfo=dt_timezone.utc), tick=False):
        yield


@pytest.fixture
def book(rep, stages):
    ExchangeRate.objects.create(currency="USD", day=date(2026, 3, 2), rate=Decimal("0.90"))
    ExchangeRate.objects.create(currency="USD", day=date(2026, 3, 11), rate=Decimal("0.80"))
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), currency="EUR", expected_close=date(2026, 3, 31))
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), currency="USD", expected_close=date(2026, 3, 31))
    DealFactory(
        owner=rep, stage=stages["Retention"], amount=Decimal("100"), currency="USD", status=DealStatus.WON,
        closed_at=WON_AT, stage_entered_at=WON_AT, created_at=WON_AT,  # its history: won on 2 March
    )  # fmt: skip
    return rep


def test_each_period_has_the_forecast_in_the_reporting_currency(book):
    body = client_for(book).get("/api/v1/forecast/", {"method": "weighted"}).json()
    assert body["reporting_currency"] == "EUR"
    march = body["periods"][0]["in_reporting_currency"]
    assert march["currency"] == "EUR"
    # Won: 100 USD at 0.90 (2 March) = 90; open: 1000 × 60 % + 1000 × 0.80 (11 March, the latest) × 60 %.
    assert Decimal(march["won"]) == Decimal("90.00")
    assert Decimal(march["expected"]) == Decimal("1170.00")
    assert {a["currency"] for a in body["periods"][0]["amounts"]} == {"EUR", "USD"}  # as entered, beside it
    assert body["conversion"] == {"basis": "today", "rates": {"USD": "0.8"}, "missing_rates": []}


def test_a_missing_rate_is_listed_and_left_out(book, stages):
    DealFactory(owner=book, stage=stages["Offer"], amount=Decimal("500"), currency="CHF", expected_close=date(2026, 3, 31))
    body = client_for(book).get("/api/v1/forecast/", {"method": "montecarlo"}).json()
    (missing,) = body["conversion"]["missing_rates"]
    assert (missing["currency"], missing["count"], Decimal(missing["amount"])) == ("CHF", 1, Decimal("500"))
    march = body["periods"][0]["in_reporting_currency"]
    # Every simulated future holds at most the EUR and USD deals (won 90 + 600 + 480 at 100 %).
    assert Decimal(march["p90"]) <= Decimal("1890.00")


def test_a_pipeline_in_the_reporting_currency_alone_is_forecast_once(rep, stages, monkeypatch):
    from forecasting import runs

    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), currency="EUR", expected_close=date(2026, 3, 31))
    calls = []
    real = runs.forecast_run
    monkeypatch.setattr(runs, "forecast_run", lambda **kw: calls.append(kw) or real(**kw))
    body = client_for(rep).get("/api/v1/forecast/", {"method": "weighted"}).json()
    assert len(calls) == 1
    march = body["periods"][0]
    assert march["in_reporting_currency"]["expected"] == march["amounts"][0]["expected"] == "600.00"
    assert body["conversion"] == {"basis": "today", "rates": {}, "missing_rates": []}
