"""Exchange rates for the demo data: a business day's rate into EUR for each demo currency over the
demo's history (pipeline.demo values deals at 1 EUR = 1.08 USD = 0.95 CHF), drifting a little from
day to day as real rates do, and this year's budget rates. Written through the import service."""
from __future__ import annotations

import math
import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .models import BudgetRate, ExchangeRate, RateSource
from .rates import reporting_currency
from .services import RateRow, budget_rate_set, exchange_rates_import

# 1 EUR in each currency, as the demo's deal values assume.
PER_EURO = {"EUR": 1.0, "USD": 1.08, "CHF": 0.95, "GBP": 0.85}
DAYS = 800  # the demo's 18 months of history, and some
ACTOR_LABEL = "demo data"


def demo_rate_rows(*, today: date, seed: int = 42, days: int = DAYS) -> list[RateRow]:
    """A rate per business day and currency into the reporting currency (when it is a demo
    currency): a slow wave and a small random walk around the demo's rate."""
    base = reporting_currency()
    if base not in PER_EURO:
        return []
    rng = random.Random(seed)
    rows = []
    for currency, per_euro in sorted(PER_EURO.items()):
        if currency == base:
            continue
        walk = 0.0
        for offset in range(days, -1, -1):
            day = today - timedelta(days=offset)
            walk = 0.97 * walk + rng.gauss(0, 0.003)
            if day.weekday() >= 5:
                continue
            drift = 1 + 0.03 * math.sin(offset / 90) + walk
            in_euro = 1 / (per_euro * drift)
            rate = in_euro * PER_EURO[base]
            rows.append(RateRow(currency, day, Decimal(repr(rate)).quantize(Decimal("1e-6"), rounding=ROUND_HALF_UP)))
    return rows


def seed_rates_demo(*, today: date, seed: int = 42, if_empty: bool = False) -> int:
    """Write the demo rates and this year's budget rates; returns how many rates were written."""
    if if_empty and ExchangeRate.objects.exists():
        return 0
    rows = demo_rate_rows(today=today, seed=seed)
    result = exchange_rates_import(rows=rows, actor_label=ACTOR_LABEL, source=RateSource.DEMO)
    base = reporting_currency()
    for currency, per_euro in sorted(PER_EURO.items()):
        if currency != base and base in PER_EURO and not BudgetRate.objects.filter(currency=currency, year=today.year).exists():
            budget = Decimal(repr(PER_EURO[base] / per_euro)).quantize(Decimal("1e-4"), rounding=ROUND_HALF_UP)
            budget_rate_set(currency=currency, year=today.year, rate=budget, actor_label=ACTOR_LABEL)
    return result.written
