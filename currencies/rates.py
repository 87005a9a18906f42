"""Which exchange rate converts an amount into the reporting currency, and sums converted with it:
the one home of the conversion rules, used by the board, the forecast, the API and the exports.

The rules:
- the reporting currency is STAGEFLOW["REPORTING_CURRENCY"]; its own amounts convert at 1;
- a won deal converts at the rate of the day it was won (its close date);
- an open deal (and a quota) at today's rate, or, with STAGEFLOW["OPEN_DEALS_RATE"] = "budget",
  at the budget rate of the current year;
- "the rate of a day" is the latest reference rate on or before that day, at most
  STAGEFLOW["RATE_MAX_AGE_DAYS"] old (no rates are published on weekends and holidays);
- without such a rate the amount is not converted: it is left out of the converted total and
  reported (`MissingRate`), never counted as zero and never at 1:1.

The database sums amounts per currency (and per rate day); the sums are converted here, exactly
(`Decimal`), and rounded half up to the reporting currency's minor unit once, at the end. Rates
come in a `RateBook`, read by a query of its own (the forecast, the API) or with the grouped query
itself (`rates_annotations`: the board, which must not cost a query more); an export reads each
deal's rate with the deal (`rate_annotations`).
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Aggregate, Case, CharField, DateField, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Concat, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from .models import BudgetRate, ExchangeRate
from .money import round_money

ONE = Decimal(1)
_PLACES = Decimal("1e-10")
TODAY, BUDGET = "today", "budget"


def reporting_currency() -> str:
    return settings.STAGEFLOW["REPORTING_CURRENCY"].upper()


def open_deals_basis() -> str:
    """How open deals and quotas convert: at today's rate, or at the current year's budget rate."""
    return BUDGET if settings.STAGEFLOW.get("OPEN_DEALS_RATE", TODAY) == BUDGET else TODAY


def max_age() -> int:
    return int(settings.STAGEFLOW.get("RATE_MAX_AGE_DAYS", 7))


# --- Reading rates ------------------------------------------------------------------------------


@dataclass
class RateBook:
    """Rates of some currencies into the reporting currency, read in one query (two in budget
    mode): per currency the days and rates in date order, and the budget rates per year."""

    base: str
    days: dict[str, list[date]] = field(default_factory=dict)
    values: dict[str, list[Decimal]] = field(default_factory=dict)
    budget: dict[tuple[str, int], Decimal] = field(default_factory=dict)

    @classmethod
    def load(cls, currencies, *, first: date, last: date, years=()) -> RateBook:
        """The daily rates of `currencies` that days from `first` to `last` may use, and (in budget
        mode) their budget rates for `years`. Nothing is read when every currency is the
        reporting currency."""
        base = reporting_currency()
        book = cls(base=base)
        others = sorted({c for c in currencies if c and c != base})
        if not others:
            return book
        rows = (
            ExchangeRate.objects.filter(
                base=base, currency__in=others, day__gte=first - timedelta(days=max_age()), day__lte=last
            )
            .order_by("currency", "day")
            .values_list("currency", "day", "rate")
        )
        for currency, day, rate in rows:
            book.days.setdefault(currency, []).append(day)
            book.values.setdefault(currency, []).append(rate)
        if years and open_deals_basis() == BUDGET:
            book.budget = {
                (currency, year): rate
                for currency, year, rate in BudgetRate.objects.filter(
                    base=base, currency__in=others, year__in=sorted(set(years))
                ).values_list("currency", "year", "rate")
            }
        return book

    @classmethod
    def from_text(cls, daily: str | None, budget: str | None = None, *, year: int | None = None) -> RateBook:
        """The book from the texts `rates_annotations` reads with a grouped query."""
        book = cls(base=reporting_currency())
        rows = []
        for item in (daily or "").split(";"):
            if item:
                currency, day, rate = item.split("|")
                rows.append((currency, date.fromisoformat(day[:10]), Decimal(rate).quantize(_PLACES)))
        for currency, day, rate in sorted(rows):
            book.days.setdefault(currency, []).append(day)
            book.values.setdefault(currency, []).append(rate)
        for item in (budget or "").split(";"):
            if item and year is not None:
                currency, rate = item.split("|")
                book.budget[(currency, year)] = Decimal(rate).quantize(_PLACES)
        return book

    def latest(self, currency: str, day: date) -> tuple[Decimal, date] | None:
        """The latest rate of `currency` on or before `day`, with its day."""
        days = self.days.get(currency)
        if not days:
            return None
        i = bisect.bisect_right(days, day)
        return (self.values[currency][i - 1], days[i - 1]) if i else None


class Rates:
    """The conversion rules (see the module) as of `today`, for rates found in a `RateBook` or
    handed over by a query (`found`: the rate and its day)."""

    def __init__(self, *, today: date | None = None, book: RateBook | None = None):
        self.currency = reporting_currency()
        self.today = today or timezone.localdate()
        self.basis = open_deals_basis()
        self.max_age = max_age()
        self.book = book or RateBook(base=self.currency)

    def on_day(self, currency: str, day: date, found: tuple | None = None) -> Decimal | None:
        """The rate of `day`: the latest on or before it, if it is recent enough."""
        if currency == self.currency:
            return ONE
        if found is None:
            found = self.book.latest(currency, day)
        if not found or found[0] is None or found[1] is None:
            return None
        rate, rate_day = found
        if rate_day > day or (day - rate_day).days > self.max_age:
            return None
        return rate

    def for_open(self, currency: str, found: tuple | None = None, budget: Decimal | None = None) -> Decimal | None:
        """The rate of an open deal or a quota: today's, or this year's budget rate."""
        if currency == self.currency:
            return ONE
        if self.basis == BUDGET:
            return budget if budget is not None else self.book.budget.get((currency, self.today.year))
        return self.on_day(currency, self.today, found)

    def for_won(self, currency: str, closed_on: date | None, found: tuple | None = None) -> Decimal | None:
        """The rate of a won deal: that of its close date (today's when it has none)."""
        return self.on_day(currency, closed_on or self.today, found)

    def open_day(self) -> date | None:
        """The day an open deal's missing rate is reported for (None: this year's budget rate)."""
        return None if self.basis == BUDGET else self.today


# --- Rates inside another query -----------------------------------------------------------------------


def rate_day_expression(today: date):
    """The day whose rate converts a deal: its close date when it is won, else today."""
    return Case(
        When(Q(status="won") & Q(closed_at__isnull=False), then=TruncDate("closed_at")),
        default=Value(today),
        output_field=DateField(),
    )


class _Joined(Aggregate):
    """The texts of a column joined with ";" (GROUP_CONCAT on SQLite, STRING_AGG on PostgreSQL)."""

    function = "GROUP_CONCAT"
    template = "%(function)s(%(expressions)s, ';')"
    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="STRING_AGG", **extra)


def rates_annotations(*, first: date, last: date, today: date) -> dict:
    """Annotations that bring a grouped query the rates of the days from `first` to `last` (and a
    maximum age before), as text for RateBook.from_text: `rates_text` (and in budget mode
    `budget_text`, this year's budget rates). Each is a subquery that does not depend on the row,
    so the database runs it once for the statement: the sums and their rates come back together,
    without a query of their own."""
    base = reporting_currency()
    daily = (
        ExchangeRate.objects.filter(base=base, day__gte=first - timedelta(days=max_age()), day__lte=last)
        .order_by()
        .values("base")
        .annotate(text=_Joined(Concat("currency", Value("|"), Cast("day", CharField()), Value("|"), Cast("rate", CharField()))))
        .values("text")
    )
    annotations = {"rates_text": Subquery(daily, output_field=TextField())}
    if open_deals_basis() == BUDGET:
        budget = (
            BudgetRate.objects.filter(base=base, year=today.year)
            .order_by()
            .values("base")
            .annotate(text=_Joined(Concat("currency", Value("|"), Cast("rate", CharField()))))
            .values("text")
        )
        annotations["budget_text"] = Subquery(budget, output_field=TextField())
    return annotations


def rate_annotations(*, today: date, currency: str = "currency", day: str = "rate_day") -> dict:
    """Per row (a deal of an export), the latest rate on or before its `day` (`rate`) and that
    rate's day (`rate_on`), and in budget mode this year's budget rate (`budget_rate`): subqueries
    of the same statement, for Rates(found=…). Not for grouped queries (they would group by them:
    use rates_annotations there)."""
    base = reporting_currency()
    latest = ExchangeRate.objects.filter(
        base=base, currency=OuterRef(currency), day__lte=OuterRef(day)
    ).order_by("-day")
    annotations = {
        "rate": Subquery(latest.values("rate")[:1]),
        "rate_on": Subquery(latest.values("day")[:1], output_field=DateField()),
    }
    if open_deals_basis() == BUDGET:
        annotations["budget_rate"] = Subquery(
            BudgetRate.objects.filter(base=base, currency=OuterRef(currency), year=today.year).values("rate")[:1]
        )
    return annotations


# --- Converted sums ----------------------------------------------------------------------------------


@dataclass
class MissingRate:
    """A currency some of whose sums could not be converted: on which days a rate was missing
    (None: this year's budget rate), how many deals, and how much (in that currency)."""

    currency: str
    days: set = field(default_factory=set)
    count: int = 0
    amount: Decimal = Decimal(0)

    def note(self, day: date | None, count: int, amount) -> None:
        self.days.add(day)
        self.count += count
        self.amount += Decimal(amount or 0)

    def as_dict(self) -> dict:
        """JSON-safe, to be stored (a forecast run keeps what it left out)."""
        dated = sorted(d for d in self.days if d is not None)
        return {
            "currency": self.currency,
            "first": dated[0].isoformat() if dated else None,
            "last": dated[-1].isoformat() if dated else None,
            "budget": None in self.days,
            "count": self.count,
            "amount": str(round_money(self.amount, self.currency)),
        }


def missing_message(missing: dict, target: str) -> str:
    """The warning a person reads about one MissingRate.as_dict()."""
    from django.utils import formats

    from localization.formatting import money

    values = {
        "currency": missing["currency"],
        "target": target,
        "amount": money(Decimal(missing["amount"]), missing["currency"], 0),
        "count": missing["count"],
    }
    if missing["first"] is None:
        text = _("No %(year)s budget rate for %(currency)s.") % {**values, "year": timezone.localdate().year}
    elif missing["first"] == missing["last"]:
        day = formats.date_format(date.fromisoformat(missing["first"]), "SHORT_DATE_FORMAT")
        text = _("No %(currency)s → %(target)s rate for %(day)s.") % {**values, "day": day}
    else:
        first = formats.date_format(date.fromisoformat(missing["first"]), "SHORT_DATE_FORMAT")
        last = formats.date_format(date.fromisoformat(missing["last"]), "SHORT_DATE_FORMAT")
        text = _("No %(currency)s → %(target)s rate for some days between %(first)s and %(last)s.") % {
            **values, "first": first, "last": last,
        }  # fmt: skip
    left_out = ngettext(
        "%(count)s deal (%(amount)s) is left out of the %(target)s figures.",
        "%(count)s deals (%(amount)s) are left out of the %(target)s figures.",
        missing["count"],
    ) % values
    return f"{text} {left_out}"


class ConvertedSums:
    """Figures (a total, a weighted total, …) in several currencies added up in the reporting
    currency: `add` each per-currency sum with the rate that converts it (None when there is none),
    read the rounded results by name. `needed` says whether any sum was in another currency, i.e.
    whether the converted figure says more than the original."""

    def __init__(self, currency: str | None = None):
        self.currency = currency or reporting_currency()
        self._exact: dict[str, Decimal] = defaultdict(Decimal)
        self._missing: dict[str, MissingRate] = {}
        self.currencies: set[str] = set()
        self.converted_any = False

    def add(self, currency: str, rate: Decimal | None, *, day: date | None = None, count: int = 1, **figures) -> None:
        self.currencies.add(currency)
        if rate is None:
            first = next(iter(figures.values()), 0)
            self._missing.setdefault(currency, MissingRate(currency)).note(day, count, first)
            return
        self.converted_any = True
        for name, value in figures.items():
            self._exact[name] += Decimal(value or 0) * rate

    def __getitem__(self, name: str) -> Decimal:
        return round_money(self._exact.get(name, Decimal(0)), self.currency)

    @property
    def needed(self) -> bool:
        return bool(self.currencies - {self.currency})

    @property
    def missing(self) -> list[dict]:
        return [self._missing[c].as_dict() for c in sorted(self._missing)]

    @property
    def warnings(self) -> list[str]:
        return [missing_message(m, self.currency) for m in self.missing]
