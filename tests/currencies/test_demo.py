"""The demo has a rate for each of its currencies on every business day of its history, near the
rates its deal values assume, so `make run` shows converted figures."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from currencies.demo import demo_rate_rows, seed_rates_demo
from currencies.models import BudgetRate, ExchangeRate
from currencies.rates import RateBook, Rates

pytestmark = pytest.mark.django_db
TODAY = date(2026, 5, 20)  # a Wednesday


def test_every_business_day_has_a_rate_near_the_demos_values():
    rows = demo_rate_rows(today=TODAY)
    assert {r.currency for r in rows} == {"USD", "CHF", "GBP"}
    assert all(r.day.weekday() < 5 for r in rows)
    usd = [r.rate for r in rows if r.currency == "USD"]
    assert all(Decimal("0.85") < rate < Decimal("1.00") for rate in usd)  # 1 / 1.08 ≈ 0.926, give or take
    assert demo_rate_rows(today=TODAY) == rows  # the same seed, the same rates


def test_the_seed_makes_todays_and_18_months_old_deals_convertible():
    written = seed_rates_demo(today=TODAY)
    assert written == ExchangeRate.objects.count() > 1000
    assert BudgetRate.objects.filter(year=2026).count() == 3
    rates = Rates(
        today=TODAY, book=RateBook.load(["USD", "CHF"], first=TODAY - timedelta(days=550), last=TODAY, years=[2026])
    )
    assert rates.for_open("USD") is not None and rates.for_open("CHF") is not None
    assert rates.for_won("CHF", TODAY - timedelta(days=548)) is not None
    assert seed_rates_demo(today=TODAY, if_empty=True) == 0


def test_the_command_writes_the_rates_once(capsys):
    call_command("seed_rates_demo", "--if-empty")
    call_command("seed_rates_demo", "--if-empty")
    out = capsys.readouterr().out
    assert "exchange rates written." in out and "Exchange rates exist already." in out
