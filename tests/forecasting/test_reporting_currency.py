"""The forecast in one currency: today's snapshot converts open deals at today's rate and won deals
at the rate of the day they were won, simulates the whole pipeline in the reporting currency, keeps
the figures per currency beside it, and says what a missing rate left out."""

from datetime import date, datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine

from currencies.models import ExchangeRate
from forecasting import services
from forecasting.models import ForecastEvidence, ForecastSnapshot, Quota
from pipeline import services as pipeline_services
from pipeline.models import DealStatus
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
TODAY = date(2025, 5, 14)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(datetime(2025, 5, 14, 10, tzinfo=dt_timezone.utc), tick=False):
        yield


def rate(currency, day, value):
    ExchangeRate.objects.create(currency=currency, day=day, rate=Decimal(value))


def open_deal(owner, stage, amount, currency, close=TODAY + timedelta(days=10)):
    return pipeline_services.deal_create(
        actor=owner, organization=OrganizationFactory(), title="Deal", stage=stage, amount=amount, currency=currency,
        expected_close=close, at=datetime(2025, 3, 1, 10, tzinfo=dt_timezone.utc),
    )  # fmt: skip


def won_deal(owner, stages, amount, currency, day):
    deal = open_deal(owner, stages["Negotiation"], amount, currency)
    pipeline_services.deal_move(
        deal=deal, to_stage=stages["Retention"], actor=owner, at=datetime.combine(day, datetime.min.time()).replace(
            hour=12, tzinfo=dt_timezone.utc
        ),
    )  # fmt: skip
    return deal


@pytest.fixture
def book(rep, stages):
    rate("USD", date(2025, 4, 2), "0.90")
    rate("USD", date(2025, 5, 13), "0.88")
    open_deal(rep, stages["Offer"], "1000", "EUR")  # 60 %
    open_deal(rep, stages["Offer"], "2000", "USD")  # 60 %
    won_deal(rep, stages, "500", "USD", date(2025, 4, 2))  # this quarter, at the rate of 2 April
    return rep


def rows(pipeline, **filters):
    return ForecastSnapshot.objects.filter(pipeline=pipeline, team=None, owner=None, manager=None, **filters)


def test_the_forecast_is_also_in_the_reporting_currency(book, pipeline):
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    q2 = date(2025, 4, 1)
    weighted = rows(pipeline, converted=True, method="weighted", period_kind="quarter", period_start=q2).get()
    assert weighted.currency == "EUR"
    # Won: 500 USD at 0.90 (its day) = 450; open: 1000 × 60 % + 2000 × 0.88 (today) × 60 % = 1656.
    assert weighted.won == Decimal("450.00")
    assert weighted.expected == Decimal("2106.00")
    # Beside it the figures per currency, as entered.
    originals = rows(pipeline, converted=False, method="weighted", period_kind="quarter", period_start=q2)
    assert {r.currency: (r.won, r.expected) for r in originals} == {
        "EUR": (Decimal("0.00"), Decimal("600.00")), "USD": (Decimal("500.00"), Decimal("1700.00")),
    }  # fmt: skip
    conversion = ForecastEvidence.objects.get(pipeline=pipeline).conversion
    assert conversion["currency"] == "EUR" and conversion["rates"] == {"USD": "0.88"} and conversion["missing"] == []


def test_the_monte_carlo_simulates_the_whole_pipeline_in_one_currency(book, pipeline):
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    q2 = date(2025, 4, 1)
    mc = rows(pipeline, converted=True, method="montecarlo", period_kind="quarter", period_start=q2).get()
    assert mc.currency == "EUR"
    # Every future holds what was won (450) and at most both open deals (1000 + 1760).
    assert Decimal("450.00") <= mc.p10 <= mc.p50 <= mc.p90 <= Decimal("3210.00")
    # The range covers the USD deal too: the best futures win more than the EUR deal alone could bring.
    assert mc.p90 > Decimal("1450.00")


def test_a_missing_rate_is_left_out_and_reported(rep, stages, pipeline):
    open_deal(rep, stages["Offer"], "1000", "EUR")
    open_deal(rep, stages["Offer"], "2000", "CHF")
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    weighted = rows(pipeline, converted=True, method="weighted", period_kind="quarter", period_start=date(2025, 4, 1))
    assert weighted.get().expected == Decimal("600.00")  # CHF left out: not 0 added, not 1:1
    missing = ForecastEvidence.objects.get(pipeline=pipeline).conversion["missing"]
    assert missing == [
        {"currency": "CHF", "first": "2025-05-14", "last": "2025-05-14", "budget": False, "count": 1, "amount": "2000.00"}
    ]


def test_a_pipeline_in_the_reporting_currency_alone_has_no_converted_rows(rep, stages, pipeline):
    open_deal(rep, stages["Offer"], "1000", "EUR")
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert not ForecastSnapshot.objects.filter(converted=True).exists()
    assert ForecastEvidence.objects.get(pipeline=pipeline).conversion is None


def test_quotas_in_other_currencies_convert_at_todays_rate(book, pipeline):
    Quota.objects.create(user=book, period_kind="quarter", period_start=date(2025, 4, 1), currency="USD", amount=1000)
    Quota.objects.create(user=book, period_kind="quarter", period_start=date(2025, 4, 1), currency="EUR", amount=500)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    mc = ForecastSnapshot.objects.get(
        owner=book, converted=True, method="montecarlo", period_kind="quarter", period_start=date(2025, 4, 1)
    )
    assert mc.quota == Decimal("1380.00")  # 500 + 1000 × 0.88
    assert mc.quota_chance is not None


def test_the_dashboard_shows_one_card_per_period_with_the_originals_one_click_away(client, manager, book, pipeline):
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    client.force_login(manager)
    response = client.get("/forecast/")
    cards = response.context["data"]["periods"]
    assert [c["currency"] for c in cards] == ["EUR"] * 3
    assert cards[0]["won"] == 450.0 and cards[0]["weighted"] == 2106.0
    assert [o["currency"] for o in cards[0]["originals"]] == ["EUR", "USD"]
    page = response.content.decode()
    assert page.count("sf-period-card") == 3
    assert "By currency, as entered" in page and "All amounts in EUR" in page
    (rita,) = response.context["data"]["reps"]
    assert (rita["currency"], rita["won"], rita["weighted"]) == ("EUR", 450.0, 1656.0)
    assert [o["currency"] for o in rita["originals"]] == ["EUR", "USD"]


def test_the_dashboard_warns_about_a_missing_rate(client, manager, rep, stages, pipeline):
    open_deal(rep, stages["Offer"], "1000", "EUR")
    open_deal(rep, stages["Offer"], "2000", "CHF")
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    client.force_login(manager)
    page = client.get("/forecast/").content.decode()
    assert "No CHF → EUR rate for 14 May 2025. 1 deal (CHF\xa02,000) is left out of the EUR figures." in page


def test_new_rates_make_the_next_recompute_write_a_new_run(book, pipeline):
    first = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)["written"] == 0
    ExchangeRate.objects.filter(day=date(2025, 5, 13)).update(rate=Decimal("0.80"))
    second = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert second["written"] > 0 and second["digest"] != first["digest"]


def test_deals_keep_their_own_currency_and_amount(book, pipeline):
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert book.deals.filter(status=DealStatus.WON, currency="USD", amount=Decimal("500")).exists()


def test_a_quota_in_a_currency_no_deal_has_converts_too(rep, stages, pipeline):
    rate("GBP", date(2025, 5, 13), "1.20")
    rate("USD", date(2025, 5, 13), "0.88")
    open_deal(rep, stages["Offer"], "1000", "USD")
    Quota.objects.create(user=rep, period_kind="quarter", period_start=date(2025, 4, 1), currency="GBP", amount=1000)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    mc = ForecastSnapshot.objects.get(
        owner=rep, converted=True, method="montecarlo", period_kind="quarter", period_start=date(2025, 4, 1)
    )
    assert mc.quota == Decimal("1200.00")
    assert ForecastEvidence.objects.get(pipeline=pipeline).conversion["quota_missing"] == []
