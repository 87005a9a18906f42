"""Which rate converts what: won deals at the rate of their close date, open deals at today's (or
the year's budget rate), the latest rate on or before a day up to a maximum age, and a missing
rate reported, never a zero or 1:1."""
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from currencies.models import BudgetRate, ExchangeRate
from currencies.rates import ConvertedSums, RateBook, Rates

pytestmark = pytest.mark.django_db


def stageflow(**values):
    from django.conf import settings

    return override_settings(STAGEFLOW={**settings.STAGEFLOW, **values})


def rate(currency, day, value, base="EUR"):
    return ExchangeRate.objects.create(base=base, currency=currency, day=date.fromisoformat(day), rate=Decimal(value))


@pytest.fixture
def usd_rates(db):
    rate("USD", "2025-03-03", "0.92")
    rate("USD", "2025-03-07", "0.95")  # a Friday
    rate("USD", "2025-06-02", "0.88")


def book_for(*currencies, first="2025-01-01", last="2025-12-31"):
    return RateBook.load(currencies, first=date.fromisoformat(first), last=date.fromisoformat(last), years=[2025])


def test_the_reporting_currency_converts_at_one_without_a_rate(db):
    rates = Rates(today=date(2025, 6, 2))
    assert rates.for_open("EUR") == 1 and rates.for_won("EUR", date(2020, 1, 1)) == 1


def test_a_won_deal_converts_at_the_rate_of_its_close_date(usd_rates):
    rates = Rates(today=date(2025, 6, 2), book=book_for("USD"))
    assert rates.for_won("USD", date(2025, 3, 3)) == Decimal("0.92")
    assert rates.for_won("USD", date(2025, 3, 7)) == Decimal("0.95")
    # A Sunday has no rate of its own: Friday's is used.
    assert rates.for_won("USD", date(2025, 3, 9)) == Decimal("0.95")


@time_machine.travel("2025-06-04 10:00:00+00:00", tick=False)
def test_an_open_deal_converts_at_todays_rate(usd_rates):
    rates = Rates(book=book_for("USD"))
    assert rates.today == date(2025, 6, 4)
    assert rates.for_open("USD") == Decimal("0.88")  # Monday's, two days old


def test_a_rate_older_than_the_maximum_age_is_missing_not_reused(usd_rates):
    rates = Rates(today=date(2025, 6, 2), book=book_for("USD"))
    assert rates.for_won("USD", date(2025, 3, 14)) == Decimal("0.95")  # 7 days after the last one
    assert rates.for_won("USD", date(2025, 3, 15)) is None  # 8 days: too old
    assert rates.for_won("USD", date(2025, 1, 2)) is None  # before the first rate
    with stageflow(RATE_MAX_AGE_DAYS=31):
        assert Rates(today=date(2025, 6, 2), book=book_for("USD")).for_won("USD", date(2025, 3, 15)) == Decimal("0.95")


def test_a_currency_without_any_rate_is_missing(usd_rates):
    rates = Rates(today=date(2025, 6, 2), book=book_for("USD", "CHF"))
    assert rates.for_open("CHF") is None and rates.for_won("CHF", date(2025, 6, 2)) is None


def test_rates_into_another_reporting_currency_are_not_used(usd_rates):
    with stageflow(REPORTING_CURRENCY="CHF"):
        rates = Rates(today=date(2025, 6, 2), book=book_for("USD"))
        assert rates.for_open("USD") is None  # the stored rates are into EUR
        assert rates.for_open("CHF") == 1


def test_budget_mode_converts_open_deals_at_the_years_budget_rate_and_won_ones_at_their_day(usd_rates):
    BudgetRate.objects.create(base="EUR", currency="USD", year=2025, rate=Decimal("0.90"))
    with stageflow(OPEN_DEALS_RATE="budget"):
        rates = Rates(today=date(2025, 6, 2), book=book_for("USD"))
        assert rates.for_open("USD") == Decimal("0.90")
        assert rates.for_won("USD", date(2025, 3, 3)) == Decimal("0.92")
        assert rates.for_open("GBP") is None  # no budget rate: missing


def test_converted_sums_add_exactly_round_once_and_report_what_is_missing():
    sums = ConvertedSums("EUR")
    sums.add("EUR", Decimal(1), total=Decimal("100.00"))
    sums.add("USD", Decimal("0.333333"), total=Decimal("0.01"))
    sums.add("USD", Decimal("0.333333"), total=Decimal("0.01"))
    sums.add("CHF", None, day=date(2025, 6, 2), count=3, total=Decimal("500.00"))
    # 100 + 2 × 0.00333333 = 100.00666666 → 100.01 (rounding each part first would give 100.00)
    assert sums["total"] == Decimal("100.01")
    assert sums.needed
    assert sums.missing == [
        {"currency": "CHF", "first": "2025-06-02", "last": "2025-06-02", "budget": False, "count": 3, "amount": "500.00"}
    ]
    assert sums.warnings[0].startswith("No CHF → EUR rate for")
    assert "3 deals (CHF\xa0500) are left out of the EUR figures." in sums.warnings[0]


def test_converted_sums_in_the_reporting_currency_alone_are_not_needed():
    sums = ConvertedSums("EUR")
    sums.add("EUR", Decimal(1), total=Decimal("5"))
    assert not sums.needed and sums["total"] == Decimal("5.00") and sums.missing == []


def test_the_converted_total_is_rounded_to_the_reporting_currencys_minor_unit():
    with stageflow(REPORTING_CURRENCY="JPY"):
        sums = ConvertedSums()
        sums.add("EUR", Decimal("161.5"), total=Decimal("10.01"))  # 1616.615
        assert sums["total"] == Decimal("1617")
