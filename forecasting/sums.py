"""Today's sums from the database: the deals' current rows grouped by owner, currency, stage and
close day (GROUP BY queries, never a loop over deals), and the arrays the snapshot adds them up
with per level (pipeline, team, owner) and period."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from django.db import connection
from django.db.models import Count, DateField, ExpressionWrapper, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, TruncDate, TruncMonth, TruncQuarter
from django.utils import timezone

from pipeline.models import Deal, DealStatus, ForecastCategory, Stage, StageKind
from pipeline.selectors import weighted_amount_expression

from . import methods
from .loading import _positions
from .periods import MONTH, period_of, period_start

def _trunc(kind: str):
    return TruncMonth if kind == MONTH else TruncQuarter


def aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def period_sums(*, deals: QuerySet[Deal], kind: str, first_period: int, horizon: int, by: tuple[str, ...] = ()) -> dict:
    """Per `by` fields, currency and period, from the deals' current state, in two GROUP BY queries:
    won amount, weighted amount, its variance (deals independent), and the open amount per
    forecast category. Overdue open deals count in the first period, undated ones nowhere.

    Returns {(*by values, currency, period_start): {"won", "weighted", "variance", <category>...}}."""
    start, end = period_start(first_period, kind), period_start(first_period + horizon, kind)
    trunc = _trunc(kind)
    zero = Value(Decimal("0"))
    p = Coalesce(F("probability"), F("stage__probability"))
    # The variance only sizes the independent range: floating point is plenty, and much cheaper
    # than numeric arithmetic in the database.
    amount_f = Cast("amount", FloatField())
    variance = ExpressionWrapper(
        amount_f * amount_f * Cast(p, FloatField()) * Cast(Value(100) - p, FloatField()) / Value(10000.0),
        output_field=FloatField(),
    )
    open_rows = (
        deals.filter(status=DealStatus.OPEN, expected_close__isnull=False, expected_close__lt=end)
        .annotate(
            period=trunc(Greatest("expected_close", Value(start), output_field=DateField()), output_field=DateField())
        )
        .order_by()
        .values(*by, "currency", "period", "forecast_category")
        .annotate(
            weighted=Coalesce(Sum(weighted_amount_expression()), zero),
            variance=Coalesce(Sum(variance), Value(0.0)),
            total=Coalesce(Sum("amount"), zero),
        )
    )
    won_rows = (
        deals.filter(status=DealStatus.WON, closed_at__gte=aware(start), closed_at__lt=aware(end))
        .annotate(period=trunc("closed_at", output_field=DateField()))
        .order_by()
        .values(*by, "currency", "period")
        .annotate(won=Coalesce(Sum("amount"), zero))
    )
    result: dict = defaultdict(lambda: defaultdict(lambda: Decimal("0")))
    for row in open_rows:
        key = (*(row[b] for b in by), row["currency"], as_date(row["period"]))
        result[key]["weighted"] += Decimal(row["weighted"])
        result[key]["variance"] += Decimal(repr(float(row["variance"])))
        result[key][row["forecast_category"]] += Decimal(row["total"])
    for row in won_rows:
        key = (*(row[b] for b in by), row["currency"], as_date(row["period"]))
        result[key]["won"] += Decimal(row["won"])
    return result


def as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass
class OpenSums:
    """The open deals summed per owner, currency, stage and expected close day (one row per group;
    numpy arrays aligned by row), and the won deals per owner, currency and day won (the day sets
    the rate that converts them, forecasting.conversion). Rows are in a
    fixed order, so that float sums come out the same on every run."""

    owner: np.ndarray
    currency: np.ndarray  # codes into `currencies`
    stage: np.ndarray  # index into the stages in board order
    close: np.ndarray  # datetime64[D], NaT when undated
    count: np.ndarray
    s1: np.ndarray  # Σ amount
    s2: np.ndarray  # Σ amount²
    own_weighted: np.ndarray  # Σ amount × own probability (percent), deals with an override
    own_s1: np.ndarray  # Σ amount of the deals with an override
    own_s2: np.ndarray  # Σ amount² of those deals
    own_variance: np.ndarray  # Σ amount² × p × (100 − p) of those deals (p in percent)
    categories: dict[str, np.ndarray]  # Σ amount per forecast category shown in the snapshot
    won_owner: np.ndarray
    won_currency: np.ndarray
    won_day: np.ndarray  # datetime64[D], the day won
    won_count: np.ndarray
    won: np.ndarray
    currencies: list[str]


def _floats(values) -> np.ndarray:
    return np.nan_to_num(np.array(values, dtype=np.float64), nan=0.0)


_SUM_CATEGORIES = (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE)

# The open sums on PostgreSQL: the same columns as the ORM query of `_open_rows`, but each amount is
# turned into a float once (LATERAL) instead of once per sum; numeric sums and repeated casts cost
# most of the query at a million deals.
_OPEN_SUMS_SQL = """
SELECT d.owner_id, d.currency, d.stage_id, d.expected_close, COUNT(*), SUM(x.a), SUM(x.a * x.a), SUM(x.a * x.p),
       SUM(x.a) FILTER (WHERE x.p IS NOT NULL), SUM(x.a * x.a) FILTER (WHERE x.p IS NOT NULL),
       SUM(x.a * x.a * x.p * (100 - x.p)),
       SUM(x.a) FILTER (WHERE d.forecast_category = %(c0)s), SUM(x.a) FILTER (WHERE d.forecast_category = %(c1)s),
       SUM(x.a) FILTER (WHERE d.forecast_category = %(c2)s)
FROM {table} d, LATERAL (SELECT d.amount::float8 AS a, d.probability::float8 AS p) x
WHERE d.pipeline_id = %(pipeline)s AND d.status = %(open)s{owners}
GROUP BY 1, 2, 3, 4
"""


def _open_rows(pipeline_id: int, owner_ids: list[int] | None = None) -> list[tuple]:
    """The open deals per owner, currency, stage and expected close day: count, Σ amount, Σ amount²,
    Σ amount × own probability, and Σ amount, Σ amount², Σ amount² × p × (100 − p) of the deals
    with their own probability, then Σ amount per forecast category (floats). `owner_ids` narrows
    the deals to those owners (None: everyone's)."""
    if connection.vendor == "postgresql":
        params = {"pipeline": pipeline_id, "open": str(DealStatus.OPEN), "owners": [int(o) for o in owner_ids or ()]}
        params.update({f"c{i}": str(name) for i, name in enumerate(_SUM_CATEGORIES)})
        sql = _OPEN_SUMS_SQL.format(
            table=connection.ops.quote_name(Deal._meta.db_table),
            owners="" if owner_ids is None else " AND d.owner_id = ANY(%(owners)s)",
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    amount_f = Cast("amount", FloatField())
    square = ExpressionWrapper(amount_f * amount_f, output_field=FloatField())
    own = Q(probability__isnull=False)
    p_f = Cast("probability", FloatField())
    # The forecast category is summed with filters rather than grouped by: fewer groups, and a
    # plan the database can run in parallel.
    keys = ("owner_id", "currency", "stage_id", "expected_close")
    deals = Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    return list(
        deals.order_by()
        .values(*keys)
        .annotate(
            n=Count("*"),
            s1=Sum(amount_f),
            s2=Sum(square),
            own_weighted=Sum(ExpressionWrapper(amount_f * p_f, output_field=FloatField())),
            own_s1=Sum(amount_f, filter=own),
            own_s2=Sum(square, filter=own),
            own_variance=Sum(ExpressionWrapper(square * p_f * (Value(100.0) - p_f), output_field=FloatField())),
            **{f"c_{name}": Sum(amount_f, filter=Q(forecast_category=name)) for name in _SUM_CATEGORIES},
        )
        .values_list(
            *keys,
            "n",
            "s1",
            "s2",
            "own_weighted",
            "own_s1",
            "own_s2",
            "own_variance",
            *(f"c_{name}" for name in _SUM_CATEGORIES),
        )
    )


def _cents(values) -> np.ndarray:
    """Float sums of amounts back to whole cents (and Σ amount × percent to whole hundredths):
    each group's exact sum is a multiple of a cent and its float error far below half a cent, so
    the figures come out the same whatever order the database added the rows in."""
    return np.round(_floats(values), 2)


def open_sums(
    *, pipeline_id: int, stage_ids: np.ndarray, won_from: date, won_until: date, owner_ids: list[int] | None = None
) -> OpenSums:
    """Two GROUP BY queries over the pipeline's current deals (of `owner_ids`, None: everyone's)."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id).order_by()
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    categories = _SUM_CATEGORIES
    open_rows = _open_rows(pipeline_id, owner_ids)
    won_rows = list(
        deals.filter(status=DealStatus.WON, closed_at__gte=aware(won_from), closed_at__lt=aware(won_until))
        .annotate(day=TruncDate("closed_at"))
        .values("owner_id", "currency", "day")
        .annotate(n=Count("*"), won=Cast(Sum("amount"), FloatField()))
        .values_list("owner_id", "currency", "day", "n", "won")
    )
    o = list(zip(*open_rows)) if open_rows else [[] for _ in range(11 + len(categories))]
    w = list(zip(*won_rows)) if won_rows else [[] for _ in range(5)]
    currencies = sorted(set(o[1]) | set(w[1]))
    code = {c: i for i, c in enumerate(currencies)}
    sums = OpenSums(
        owner=np.array(o[0], np.int64),
        currency=np.array([code[c] for c in o[1]], np.int64),
        stage=_positions(o[2], stage_ids),
        close=np.array(o[3], "datetime64[D]"),
        count=np.array(o[4], np.int64),
        s1=_cents(o[5]),
        s2=_floats(o[6]),
        own_weighted=_cents(o[7]),
        own_s1=_cents(o[8]),
        own_s2=_floats(o[9]),
        own_variance=_floats(o[10]),
        categories={name: _cents(o[11 + i]) for i, name in enumerate(categories)},
        won_owner=np.array(w[0], np.int64),
        won_currency=np.array([code[c] for c in w[1]], np.int64),
        won_day=np.array([as_date(m) for m in w[2]], "datetime64[D]"),
        won_count=np.array(w[3], np.int64),
        won=_cents(w[4]),
        currencies=currencies,
    )
    # A fixed order (the database groups in any order): float sums are then reproducible.
    closes = np.where(np.isnat(sums.close), np.iinfo(np.int64).min, sums.close.astype(np.int64))
    order = np.lexsort((closes, sums.stage, sums.currency, sums.owner))
    for name in (
        "owner",
        "currency",
        "stage",
        "close",
        "count",
        "s1",
        "s2",
        "own_weighted",
        "own_s1",
        "own_s2",
        "own_variance",
    ):
        setattr(sums, name, getattr(sums, name)[order])
    sums.categories = {name: values[order] for name, values in sums.categories.items()}
    order = np.lexsort((sums.won_day.astype(np.int64), sums.won_currency, sums.won_owner))
    for name in ("won_owner", "won_currency", "won_day", "won_count", "won"):
        setattr(sums, name, getattr(sums, name)[order])
    return sums


class Level(NamedTuple):
    """A scope of the snapshot: the pipeline (all None), a team, an owner or a manager's people,
    and the owners whose deals it sums (None: every deal)."""

    team: int | None
    owner: int | None
    manager: int | None
    owner_ids: list[int] | None


class Cells:
    """Sums per level, currency and period: each row of a grouped query counts in every level
    whose owners include the row's owner (the pipeline's, the owner's team's, the owner's own,
    each manager's who sees the owner)."""

    def __init__(self, owners: np.ndarray, levels: list[Level], n_cur: int, horizon: int):
        self.shape = (len(levels), n_cur, horizon)
        pairs_row, pairs_level = [], []
        for n, level in enumerate(levels):
            rows = np.arange(len(owners)) if level.owner_ids is None else np.flatnonzero(np.isin(owners, level.owner_ids))
            pairs_row.append(rows)
            pairs_level.append(np.full(len(rows), n, np.int64))
        self.row = np.concatenate(pairs_row) if pairs_row else np.zeros(0, np.int64)
        self.level = np.concatenate(pairs_level) if pairs_level else np.zeros(0, np.int64)

    def sum(self, values: np.ndarray, currency: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Σ values per (level, currency, period); rows with period −1 count nowhere."""
        levels, n_cur, horizon = self.shape
        p = period[self.row]
        keep = p >= 0
        key = (self.level[keep] * n_cur + currency[self.row][keep]) * horizon + p[keep]
        sums = np.bincount(key, weights=values[self.row][keep].astype(float), minlength=levels * n_cur * horizon)
        return sums.astype(float).reshape(self.shape)


def open_period(close: np.ndarray, kind: str, first: int, horizon: int) -> np.ndarray:
    """The period offset each open group counts in (overdue: the first), or −1."""
    period = period_of(close, kind)
    offset = np.where(period >= 0, np.maximum(period, first) - first, -1)
    return np.where(offset < horizon, offset, -1)


def won_period(month: np.ndarray, kind: str, first: int, horizon: int) -> np.ndarray:
    offset = period_of(month, kind) - first
    return np.where((offset >= 0) & (offset < horizon), offset, -1)


def level_sums(db: dict, *, owner_ids: list[int] | None) -> dict:
    """The sums of `period_sums(by=("owner_id",))` of the owners given (None: everyone's), per
    currency and period start."""
    sums: dict = defaultdict(lambda: defaultdict(lambda: Decimal("0")))
    for (owner, currency, start), values in db.items():
        if owner_ids is not None and owner not in owner_ids:
            continue
        for name, value in values.items():
            sums[(currency, start)][name] += value
    return sums


def open_totals(pipeline_id: int) -> dict:
    totals = (
        Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
        .order_by()
        .values("currency")
        .annotate(weighted=Sum(weighted_amount_expression()), total=Sum("amount"))
    )
    return {
        r["currency"]: {
            "weighted": str(Decimal(r["weighted"] or 0).quantize(methods.CENT)),
            "total": str(Decimal(r["total"] or 0).quantize(methods.CENT)),
        }
        for r in sorted(totals, key=lambda r: r["currency"])
    }


def stage_arrays(pipeline_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stages = list(
        Stage.objects.filter(pipeline_id=pipeline_id)
        .order_by("position", "pk")
        .values_list("pk", "probability", "kind")
    )
    return (
        np.array([s[0] for s in stages], np.int64),
        np.array([s[1] for s in stages], float) / 100.0,
        np.array([s[2] == StageKind.WON for s in stages], bool),
    )
