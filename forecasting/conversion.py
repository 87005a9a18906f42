"""The forecast in the reporting currency: the inputs of a forecast (the sums per owner, currency,
stage and close day, the won sums per day, the open deals one by one, the quotas and the run-rate of
new business) converted with the rules of `currencies.rates`, so that the same computations give
every figure in one currency and the Monte Carlo's ranges cover the whole pipeline.

The rates are applied to sums (one rate per currency, and per close day for won deals), never
looked up deal by deal; amounts without a rate are left out and listed in `Conversion.missing`.
The engine's sums are floats (see `sums`), so are the converted ones; figures are rounded half up
to the reporting currency's minor unit when they are stored.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import date

import numpy as np

from currencies.money import round_money
from currencies.rates import ConvertedSums, RateBook, Rates

from .history import OPEN, WON, Book
from .runrate import DEFAULT_SPREAD
from .sums import OpenSums


@dataclasses.dataclass
class Conversion:
    """What a converted forecast used and left out: the reporting currency, how open deals were
    converted (today's rate or the budget rate), per currency the open rate, and the amounts
    without a rate (currencies.rates.MissingRate.as_dict), JSON-safe."""

    currency: str
    basis: str
    as_of: date
    rates: dict[str, str | None]
    missing: list[dict]
    quota_missing: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "currency": self.currency,
            "basis": self.basis,
            "as_of": self.as_of.isoformat(),
            "rates": self.rates,
            "missing": self.missing,
            "quota_missing": self.quota_missing,
        }


def needed(currencies) -> bool:
    """Whether any of `currencies` is not the reporting currency (else nothing to convert)."""
    from currencies.rates import reporting_currency

    return any(c != reporting_currency() for c in currencies)


def rules_for(currencies, *, as_of: date, first_won: date | None = None) -> Rates:
    """The conversion rules as of `as_of` with the rates of `currencies` from `first_won` (the
    earliest close day to convert) to `as_of`, read in one query (none when every currency is the
    reporting currency)."""
    book = RateBook.load(set(currencies), first=min(first_won or as_of, as_of), last=as_of, years=[as_of.year])
    return Rates(today=as_of, book=book)


def _open_rates(rules: Rates, currencies) -> np.ndarray:
    """The rate of each currency's open deals (NaN: none)."""
    return np.array([float(r) if (r := rules.for_open(c)) is not None else np.nan for c in currencies], float)


def convert_sums(data: OpenSums, rules: Rates) -> tuple[OpenSums, ConvertedSums]:
    """`data` in the reporting currency (one currency code): open sums at the open rate, won sums
    at the rate of their day; groups without a rate are dropped and noted."""
    notes = ConvertedSums(rules.currency)
    open_rate = _open_rates(rules, data.currencies)
    r = open_rate[data.currency] if len(data.currency) else np.zeros(0)
    keep = ~np.isnan(r)
    for c in np.unique(data.currency[~keep]):
        mine = data.currency == c
        notes.add(
            data.currencies[c], None, day=rules.open_day(), count=int(data.count[mine].sum()),
            total=round_money(float(data.s1[mine].sum()), data.currencies[c]),
        )  # fmt: skip
    r, r2 = r[keep], r[keep] ** 2
    won_days = data.won_day.astype("datetime64[D]")
    pairs = {}
    for c, day in zip(data.won_currency.tolist(), won_days.tolist()):
        if (c, day) not in pairs:
            rate = rules.for_won(data.currencies[c], day)
            pairs[(c, day)] = float(rate) if rate is not None else np.nan
    w = np.array([pairs[(c, d)] for c, d in zip(data.won_currency.tolist(), won_days.tolist())], float)
    won_keep = ~np.isnan(w) if len(w) else np.zeros(0, bool)
    for (c, day), rate in sorted(pairs.items()):
        if np.isnan(rate):
            mine = (data.won_currency == c) & (won_days == np.datetime64(day, "D"))
            notes.add(
                data.currencies[c], None, day=day, count=int(data.won_count[mine].sum()),
                total=round_money(float(data.won[mine].sum()), data.currencies[c]),
            )  # fmt: skip
    converted = dataclasses.replace(
        data,
        owner=data.owner[keep],
        currency=np.zeros(int(keep.sum()), np.int64),
        stage=data.stage[keep],
        close=data.close[keep],
        count=data.count[keep],
        s1=data.s1[keep] * r,
        s2=data.s2[keep] * r2,
        own_weighted=data.own_weighted[keep] * r,
        own_s1=data.own_s1[keep] * r,
        own_s2=data.own_s2[keep] * r2,
        own_variance=data.own_variance[keep] * r2,
        categories={name: values[keep] * r for name, values in data.categories.items()},
        won_owner=data.won_owner[won_keep],
        won_currency=np.zeros(int(won_keep.sum()), np.int64),
        won_day=data.won_day[won_keep],
        won_count=data.won_count[won_keep],
        won=data.won[won_keep] * w[won_keep],
        currencies=[rules.currency],
    )
    return converted, notes


def convert_book(book: Book, rules: Rates, notes: ConvertedSums | None = None) -> Book:
    """The deals of `book` in the reporting currency: open ones at the open rate, won ones at the
    rate of the day they were won (lost ones count nowhere and keep no amount). Deals with an
    amount but no rate are left out, and noted in `notes` when given (a snapshot notes them from
    its sums instead)."""
    currencies, codes = np.unique(book.currency.astype(str), return_inverse=True) if len(book) else ([], np.zeros(0, int))
    currencies = [str(c) for c in currencies]
    codes = codes.reshape(-1)
    rate = np.full(len(book), np.nan)
    open_rate = _open_rates(rules, currencies)
    is_open, is_won = book.status == OPEN, book.status == WON
    rate[is_open] = open_rate[codes[is_open]]
    if is_won.any():
        days = book.status_since.astype("datetime64[D]")
        cache = {}
        for i in np.flatnonzero(is_won):
            key = (codes[i], days[i].item())
            if key not in cache:
                found = rules.for_won(currencies[codes[i]], key[1])
                cache[key] = float(found) if found is not None else np.nan
            rate[i] = cache[key]
    rate[~(is_open | is_won)] = 0.0
    amount = book.amount.astype(float)
    no_amount = np.isnan(amount)
    keep = ~np.isnan(rate) | no_amount
    if notes is not None:
        for i in np.flatnonzero(~keep):
            day = rules.open_day() if is_open[i] else book.status_since[i].astype("datetime64[D]").item()
            notes.add(currencies[codes[i]], None, day=day, count=1, total=round_money(float(amount[i]), currencies[codes[i]]))
    kept = book.subset(keep)
    converted = np.where(np.isnan(kept.amount.astype(float)), np.nan, kept.amount.astype(float) * np.nan_to_num(rate[keep]))
    return dataclasses.replace(
        kept, amount=converted, currency=np.full(len(kept), rules.currency, dtype=object)
    )


def convert_outlook_fit(fit: dict | None, rules: Rates, currencies) -> dict | None:
    """The stored run-rate of new business (today_outlook.outlook_fit) in the reporting currency:
    each currency's expected new business at its open rate, added up; its spread the average of
    the currencies' spreads weighted by their converted amounts. Currencies without a rate count
    nowhere."""
    if fit is None:
        return None
    fit = copy.deepcopy(fit)
    for stored in fit["new_business"].values():
        rates = [rules.for_open(c) for c in stored["currencies"]]
        rates = [float(r) if r is not None else None for r in rates]

        def combine(matrix):
            periods = len(matrix[0]) if matrix else 0
            return [sum(r * row[j] for r, row in zip(rates, matrix) if r is not None) for j in range(periods)]

        pipeline = stored["pipeline"]
        periods = len(pipeline[0]) if pipeline else 0
        spread = []
        for j in range(periods):
            weights = [(r or 0.0) * row[j] for r, row in zip(rates, pipeline)]
            total = sum(weights)
            spread.append(
                sum(w * s[j] for w, s in zip(weights, stored["spread"])) / total if total > 0 else DEFAULT_SPREAD
            )
        stored["owners"] = {owner: [combine(matrix)] for owner, matrix in stored["owners"].items()}
        stored["pipeline"] = [combine(pipeline)] if periods else []
        stored["spread"] = [spread] if periods else []
        stored["currencies"] = [rules.currency] if periods else []
    return fit


def conversion_of(rules: Rates, currencies, notes: ConvertedSums, quota_missing=()) -> Conversion:
    return Conversion(
        currency=rules.currency,
        basis=rules.basis,
        as_of=rules.today,
        rates={
            c: (f"{r.normalize():f}" if (r := rules.for_open(c)) is not None else None)
            for c in sorted(set(currencies))
            if c != rules.currency
        },
        missing=notes.missing,
        quota_missing=sorted(set(quota_missing)),
    )
