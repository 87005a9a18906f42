"""Forecasting services: run a method as of a date, persist snapshots, quotas and accuracy.

The maths lives in `forecasting.methods` (pure functions over numpy arrays); this module loads
the data in bulk, lets the database do the sums it can (weighted amounts, won amounts, forecast
categories and quota attainment are GROUP BY queries), and writes the append-only rows.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, DateField, ExpressionWrapper, F, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, TruncMonth, TruncQuarter
from django.utils import timezone

from pipeline.models import Deal, DealStatus, ForecastCategory, Pipeline, Stage, StageKind
from pipeline.selectors import weighted_amount_expression

from . import methods
from .history import OPEN, WON, Book, History, as_of as book_as_of, moment
from .loading import EpochDays, _positions, load_history
from .models import ForecastFit, ForecastSnapshot, LearnedProbability, Method, Quota
from .outlook import forecast as outlook_forecast
from .periods import (
    MONTH,
    QUARTER,
    first_forecast_period,
    period_end,
    period_label,
    period_of,
    period_of_date,
    period_start,
)

# What the daily snapshot covers.
SNAPSHOT_HORIZONS = {MONTH: 3, QUARTER: 2}
SNAPSHOT_SIMULATIONS = 1000
# A snapshot simulates each level (pipeline, team, owner); past this many deal-futures per level
# it uses fewer futures (never below MIN_SNAPSHOT_SIMULATIONS) so a daily run stays within minutes.
SNAPSHOT_CELL_BUDGET = 50_000_000
MIN_SNAPSHOT_SIMULATIONS = 200
# The snapshot for today simulates the open deals one by one up to this many; a bigger pipeline is
# simulated on sums per stage and close day (methods.montecarlo_aggregate), whose cost does not
# grow with the deals.
EXACT_MONTECARLO_MAX_DEALS = 20_000


def snapshot_simulations(open_deals: int) -> int:
    if open_deals <= 0:
        return SNAPSHOT_SIMULATIONS
    return int(max(MIN_SNAPSHOT_SIMULATIONS, min(SNAPSHOT_SIMULATIONS, SNAPSHOT_CELL_BUDGET // open_deals)))


METHOD_NAMES = (Method.WEIGHTED, Method.LEARNED, Method.MONTECARLO)


@dataclass
class ForecastRun:
    result: methods.PeriodForecast
    book: Book
    history: History
    model: methods.LearnedModel | None


def default_pipeline_id() -> int | None:
    pipeline = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
    return pipeline.pk if pipeline else None


def forecast_run(
    *,
    as_of: date,
    method: str,
    kind: str = QUARTER,
    horizon: int = 2,
    pipeline_id: int | None = None,
    owner_ids: list[int] | None = None,
    simulations: int = methods.DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota: dict | None = None,
    history: History | None = None,
    outlook: bool = False,
) -> ForecastRun:
    """Forecast the periods from the one holding the day after `as_of` (on a period's last day,
    the next one), seeing only what was known then.

    Probabilities are learned from the whole pipeline; `owner_ids` narrows the deals summed. With
    `outlook`, the methods take their timing from the history (`forecasting.outlook`: overdue
    and undated deals spread over the periods ahead, stale deals fading) and learned and Monte
    Carlo add the new business not yet in the pipeline."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}")
    pipeline_id = pipeline_id or default_pipeline_id()
    history = history if history is not None else load_history(pipeline_id=pipeline_id)
    book = book_as_of(history, as_of)
    if owner_ids is not None:
        book = book.subset(np.isin(book.owner_id, list(owner_ids)))
    first = first_forecast_period(as_of, kind)
    model = None
    if outlook:
        result = outlook_forecast(
            history, book, method=method, kind=kind, first_period=first, horizon=horizon,
            simulations=simulations, seed=seed, quota=quota,
        )  # fmt: skip
    elif method == Method.WEIGHTED:
        result = methods.weighted(history, book, kind=kind, first_period=first, horizon=horizon)
    else:
        model = methods.fit_learned(history, as_of)
        if method == Method.LEARNED:
            result = methods.learned(model, book, kind=kind, first_period=first, horizon=horizon)
        else:
            result = methods.montecarlo(
                model,
                book,
                kind=kind,
                first_period=first,
                horizon=horizon,
                simulations=simulations,
                seed=seed,
                quota=quota,
            )
    return ForecastRun(result=result, book=book, history=history, model=model)


# --- Database sums --------------------------------------------------------------------------------


def _trunc(kind: str):
    return TruncMonth if kind == MONTH else TruncQuarter


def _aware(day: date) -> datetime:
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
        deals.filter(status=DealStatus.WON, closed_at__gte=_aware(start), closed_at__lt=_aware(end))
        .annotate(period=trunc("closed_at", output_field=DateField()))
        .order_by()
        .values(*by, "currency", "period")
        .annotate(won=Coalesce(Sum("amount"), zero))
    )
    result: dict = defaultdict(lambda: defaultdict(lambda: Decimal("0")))
    for row in open_rows:
        key = (*(row[b] for b in by), row["currency"], _as_date(row["period"]))
        result[key]["weighted"] += Decimal(row["weighted"])
        result[key]["variance"] += Decimal(repr(float(row["variance"])))
        result[key][row["forecast_category"]] += Decimal(row["total"])
    for row in won_rows:
        key = (*(row[b] for b in by), row["currency"], _as_date(row["period"]))
        result[key]["won"] += Decimal(row["won"])
    return result


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- Snapshots ------------------------------------------------------------------------------------


def _levels(pipeline_id: int, owners=None) -> tuple[dict, list[tuple]]:
    """The owners with deals in the pipeline (or the `owners` given) and their teams, and the
    snapshot's levels: (team, owner, owners summed) for the pipeline, each team and each owner."""
    User = get_user_model()
    users = (
        User.objects.filter(deals__pipeline_id=pipeline_id).distinct()
        if owners is None
        else (User.objects.filter(pk__in=[int(o) for o in owners]).order_by("pk"))
    )
    teams = dict(users.values_list("pk", "team_id"))
    team_owners = defaultdict(list)
    for owner, team in teams.items():
        if team is not None:
            team_owners[team].append(owner)
    levels = [(None, None, None)] + [(t, None, o) for t, o in team_owners.items()] + [(None, o, [o]) for o in teams]
    return teams, levels


def _snapshot_seed(pipeline_id: int, as_of: date) -> int:
    """The seed of a snapshot's simulation: the same pipeline and day give the same figures."""
    return (pipeline_id * 1_000_003 + as_of.toordinal()) % 2**32


def _snapshot_rows(*, pipeline_id: int, as_of: date, history: History) -> list[dict]:
    """Every figure of the snapshot as of a past day, rebuilt from the history (plain dicts, no
    ids, no times)."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id)
    teams, levels = _levels(pipeline_id)

    rows = []
    book = book_as_of(history, as_of)
    model = methods.fit_learned(history, as_of) if len(history.sc_deal) else None
    calendars = [
        methods.Calendar(kind, period_of_date(as_of, kind), horizon) for kind, horizon in SNAPSHOT_HORIZONS.items()
    ]
    currencies, cur = methods.currency_index(book.currency)
    in_level = [
        np.ones(len(cur), bool) if owner_ids is None else np.isin(book.owner_id, owner_ids) for *_, owner_ids in levels
    ]
    if model is not None:
        # One simulation of the open deals for every level, month and quarter, as today's snapshot.
        amount, is_won = np.nan_to_num(book.amount.astype(float), nan=0.0), book.status == WON
        won = []
        for c in calendars:
            offset = methods.close_period_offsets(book, c.kind, c.first_period, c.horizon)
            sums = [
                methods._group_sum(np.where(is_won & mine, amount, 0.0), cur, offset, len(currencies), c.horizon)
                for mine in in_level
            ]
            won.append(np.array(sums, float).reshape(len(levels), len(currencies), c.horizon))
        simulated = _montecarlo_exact(
            book=book,
            model=model,
            currencies=currencies,
            levels=[owner_ids for *_, owner_ids in levels],
            calendars=calendars,
            won=won,
            simulations=snapshot_simulations(int((book.status == OPEN).sum())),
            seed=_snapshot_seed(pipeline_id, as_of),
        )
    for k_index, calendar in enumerate(calendars):
        kind, first, horizon = calendar.kind, calendar.first_period, calendar.horizon
        db = {
            (owner, teams.get(owner), currency, start): values
            for (owner, currency, start), values in period_sums(
                deals=deals, kind=kind, first_period=first, horizon=horizon, by=("owner_id",)
            ).items()
        }
        for level, (team_id, owner_id, owner_ids) in enumerate(levels):
            sums = _level_sums(db, team_id=team_id, owner_id=owner_id)
            for (currency, start), v in sorted(sums.items()):
                sd = Decimal(float(v["variance"]) ** 0.5)
                expected = v["won"] + v["weighted"]
                base = {"team": team_id, "owner": owner_id, "kind": kind, "period_start": start, "currency": currency}
                rows.append(
                    {
                        **base,
                        "method": Method.WEIGHTED,
                        "won": v["won"],
                        "expected": expected,
                        "p10": max(v["won"], expected - Decimal(methods.Z90) * sd),
                        "p50": expected,
                        "p90": expected + Decimal(methods.Z90) * sd,
                    }
                )
                for category in (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE, ForecastCategory.PIPELINE):
                    amount = v[category]
                    rows.append(
                        {
                            **base,
                            "method": category,
                            "won": v["won"],
                            "expected": amount,
                            "p10": amount,
                            "p50": amount,
                            "p90": amount,
                        }
                    )
            if model is None:
                continue
            sub = book.subset(in_level[level])
            # The level's currencies (of any of its deals, as the learned figures list them).
            present = [currencies.index(name) for name in methods.currency_index(sub.currency)[0]]
            figures = simulated[k_index]
            montecarlo = methods.PeriodForecast(
                method=Method.MONTECARLO,
                kind=kind,
                first_period=first,
                currencies=[currencies[i] for i in present],
                won=won[k_index][level, present],
                **{name: figures[name][level, present] for name in ("expected", "p10", "p50", "p90")},
            )
            for result in (methods.learned(model, sub, kind=kind, first_period=first, horizon=horizon), montecarlo):
                for row in result.rows():
                    rows.append(
                        {
                            "team": team_id,
                            "owner": owner_id,
                            "kind": kind,
                            "period_start": period_start(first + result.period_labels().index(row["period"]), kind),
                            "currency": row["currency"],
                            "method": result.method,
                            "won": row["won"],
                            "expected": row["expected"],
                            "p10": row["p10"],
                            "p50": row["p50"],
                            "p90": row["p90"],
                        }
                    )
    for row in rows:
        for name in ("won", "expected", "p10", "p50", "p90"):
            row[name] = Decimal(row[name]).quantize(methods.CENT)
    return rows


# --- The snapshot for today, from GROUP BY queries ---------------------------------------------------


@dataclass
class _OpenSums:
    """The open deals summed per owner, currency, stage and expected close day (one row per group;
    numpy arrays aligned by row), and the won deals per owner, currency and month. Rows are in a
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
    won_month: np.ndarray  # datetime64[D], first day of the month won in
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


def _open_sums(
    *, pipeline_id: int, stage_ids: np.ndarray, won_from: date, won_until: date, owner_ids: list[int] | None = None
) -> _OpenSums:
    """Two GROUP BY queries over the pipeline's current deals (of `owner_ids`, None: everyone's)."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id).order_by()
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    categories = _SUM_CATEGORIES
    open_rows = _open_rows(pipeline_id, owner_ids)
    won_rows = list(
        deals.filter(status=DealStatus.WON, closed_at__gte=_aware(won_from), closed_at__lt=_aware(won_until))
        .annotate(month=TruncMonth("closed_at", output_field=DateField()))
        .values("owner_id", "currency", "month")
        .annotate(n=Count("*"), won=Cast(Sum("amount"), FloatField()))
        .values_list("owner_id", "currency", "month", "n", "won")
    )
    o = list(zip(*open_rows)) if open_rows else [[] for _ in range(11 + len(categories))]
    w = list(zip(*won_rows)) if won_rows else [[] for _ in range(5)]
    currencies = sorted(set(o[1]) | set(w[1]))
    code = {c: i for i, c in enumerate(currencies)}
    sums = _OpenSums(
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
        won_month=np.array([_as_date(m) for m in w[2]], "datetime64[D]"),
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
    order = np.lexsort((sums.won_month.astype(np.int64), sums.won_currency, sums.won_owner))
    for name in ("won_owner", "won_currency", "won_month", "won_count", "won"):
        setattr(sums, name, getattr(sums, name)[order])
    return sums


class _Cells:
    """Sums per level (pipeline, each team, each owner), currency and period: each row of a
    grouped query counts in its owner's level, the owner's team's and the pipeline's."""

    def __init__(self, owners: np.ndarray, teams: dict, levels: list[tuple], n_cur: int, horizon: int):
        index = {(team, owner): n for n, (team, owner, _) in enumerate(levels)}
        self.shape = (len(levels), n_cur, horizon)
        pairs_row, pairs_level = [np.arange(len(owners))], [np.zeros(len(owners), np.int64)]
        distinct, inverse = np.unique(owners, return_inverse=True)
        for level_of in (
            lambda o: index.get((teams[o], None), -1) if teams.get(o) is not None else -1,
            lambda o: index.get((None, o), -1),
        ):
            level = np.array([level_of(int(o)) for o in distinct], np.int64)[inverse.reshape(-1)]
            keep = level >= 0
            pairs_row.append(np.flatnonzero(keep))
            pairs_level.append(level[keep])
        self.row = np.concatenate(pairs_row)
        self.level = np.concatenate(pairs_level)

    def sum(self, values: np.ndarray, currency: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Σ values per (level, currency, period); rows with period −1 count nowhere."""
        levels, n_cur, horizon = self.shape
        p = period[self.row]
        keep = p >= 0
        key = (self.level[keep] * n_cur + currency[self.row][keep]) * horizon + p[keep]
        sums = np.bincount(key, weights=values[self.row][keep].astype(float), minlength=levels * n_cur * horizon)
        return sums.astype(float).reshape(self.shape)


def _open_period(close: np.ndarray, kind: str, first: int, horizon: int) -> np.ndarray:
    """The period offset each open group counts in (overdue: the first), or −1."""
    period = period_of(close, kind)
    offset = np.where(period >= 0, np.maximum(period, first) - first, -1)
    return np.where(offset < horizon, offset, -1)


def _won_period(month: np.ndarray, kind: str, first: int, horizon: int) -> np.ndarray:
    offset = period_of(month, kind) - first
    return np.where((offset >= 0) & (offset < horizon), offset, -1)


def _today_rows(
    *, pipeline_id: int, as_of: date, stages: tuple, model: methods.LearnedModel | None
) -> tuple[list[dict], dict]:
    """Every figure of today's snapshot from the deals' current rows (the as-of state of today), in
    a constant number of queries; and the open amounts per currency for the cache summary."""
    stage_ids, configured, _ = stages
    ranges = [
        (period_start(period_of_date(as_of, k), k), period_start(period_of_date(as_of, k) + h, k))
        for k, h in SNAPSHOT_HORIZONS.items()
    ]
    data = _open_sums(
        pipeline_id=pipeline_id,
        stage_ids=stage_ids,
        won_from=min(r[0] for r in ranges),
        won_until=max(r[1] for r in ranges),
    )
    # Owners with open deals, or deals won in the periods shown: the others have no figure today.
    teams, levels = _levels(pipeline_id, owners=np.union1d(data.owner, data.won_owner))
    n_cur = len(data.currencies)
    cp = configured[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
    weighted = (data.s1 - data.own_s1) * cp + data.own_weighted / 100.0
    weighted_var = np.maximum((data.s2 - data.own_s2) * cp * (1 - cp) + data.own_variance / 10_000.0, 0.0)

    summary = {}
    for c, currency in enumerate(data.currencies):
        mine = data.currency == c
        if mine.any():
            summary[currency] = {
                "weighted": str(methods.money(weighted[mine].sum())),
                "total": str(methods.money(data.s1[mine].sum())),
            }

    open_cells = _Cells(data.owner, teams, levels, n_cur, 1)
    won_cells = _Cells(data.won_owner, teams, levels, n_cur, 1)
    # The currencies a level has (open deals, or won ones in the periods shown).
    present = (open_cells.sum(data.count.astype(float), data.currency, np.zeros(len(data.owner), np.int64)) > 0) | (
        won_cells.sum(data.won_count.astype(float), data.won_currency, np.zeros(len(data.won_owner), np.int64)) > 0
    )
    open_count = open_cells.sum(data.count.astype(float), data.currency, np.zeros(len(data.owner), np.int64))
    open_count = open_count.sum(axis=(1, 2))  # per level
    calendars = [
        methods.Calendar(kind, period_of_date(as_of, kind), horizon) for kind, horizon in SNAPSHOT_HORIZONS.items()
    ]
    won_of = {}  # per period kind: the won amounts and counts per level, currency and period
    for calendar in calendars:
        wcells = _Cells(data.won_owner, teams, levels, n_cur, calendar.horizon)
        won_period = _won_period(data.won_month, calendar.kind, calendar.first_period, calendar.horizon)
        won_of[calendar.kind] = (
            wcells.sum(data.won, data.won_currency, won_period),
            wcells.sum(data.won_count.astype(float), data.won_currency, won_period),
        )
    exact = None
    if model is not None and open_count[0] <= EXACT_MONTECARLO_MAX_DEALS:
        # One simulation of the open deals for every level, month and quarter.
        exact = _montecarlo_exact(
            book=_open_book(pipeline_id=pipeline_id, as_of=as_of, stage_ids=stage_ids),
            model=model,
            currencies=data.currencies,
            levels=[owner_ids for _, _, owner_ids in levels],
            calendars=calendars,
            won=[won_of[calendar.kind][0] for calendar in calendars],
            simulations=snapshot_simulations(int(open_count[0])),
            seed=_snapshot_seed(pipeline_id, as_of),
        )

    rows = []
    for k_index, calendar in enumerate(calendars):
        kind, first, horizon = calendar.kind, calendar.first_period, calendar.horizon
        cells = _Cells(data.owner, teams, levels, n_cur, horizon)
        period = _open_period(data.close, kind, first, horizon)
        won, won_n = won_of[kind]
        open_n = cells.sum(data.count.astype(float), data.currency, period)
        w_mean = cells.sum(weighted, data.currency, period)
        w_var = cells.sum(weighted_var, data.currency, period)
        category = {name: cells.sum(values, data.currency, period) for name, values in data.categories.items()}
        figures = []  # (method, arrays: won, expected, p10, p50, p90)
        w_expected = won + w_mean
        w_sd = np.sqrt(w_var)
        figures.append(
            (
                Method.WEIGHTED,
                won,
                w_expected,
                np.maximum(won, w_expected - methods.Z90 * w_sd),
                w_expected,
                w_expected + methods.Z90 * w_sd,
                (open_n > 0) | (won_n > 0),
            )
        )
        for name, amount in category.items():
            figures.append((name, won, amount, amount, amount, amount, (open_n > 0) | (won_n > 0)))
        if model is not None:
            lp = model.probability[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
            l_expected = won + cells.sum(lp * data.s1, data.currency, period)
            l_sd = np.sqrt(cells.sum(lp * (1 - lp) * data.s2, data.currency, period))
            most = won + cells.sum(data.s1, data.currency, period)
            full_grid = np.broadcast_to(present[:, :, :1], won.shape)
            figures.append(
                (
                    Method.LEARNED,
                    won,
                    l_expected,
                    np.maximum(won, l_expected - methods.Z90 * l_sd),
                    l_expected,
                    np.minimum(most, l_expected + methods.Z90 * l_sd),
                    full_grid,
                )
            )
            if exact is not None:
                mc = exact[k_index]
            else:
                mc = _montecarlo_on_sums(
                    data=data,
                    model=model,
                    cells=cells,
                    won=won,
                    kind=kind,
                    first=first,
                    horizon=horizon,
                    as_of=as_of,
                    seed=(_snapshot_seed(pipeline_id, as_of) + k_index) % 2**32,
                )
            figures.append((Method.MONTECARLO, won, mc["expected"], mc["p10"], mc["p50"], mc["p90"], full_grid))
        for method, f_won, expected, p10, p50, p90, shown in figures:
            for level, currency, j in zip(*np.nonzero(shown)):
                team_id, owner_id, _ = levels[level]
                rows.append(
                    {
                        "team": team_id,
                        "owner": owner_id,
                        "kind": kind,
                        "period_start": period_start(first + int(j), kind),
                        "currency": data.currencies[currency],
                        "method": method,
                        "won": methods.money(f_won[level, currency, j]),
                        "expected": methods.money(expected[level, currency, j]),
                        "p10": methods.money(p10[level, currency, j]),
                        "p50": methods.money(p50[level, currency, j]),
                        "p90": methods.money(p90[level, currency, j]),
                    }
                )
    return rows, summary


def _open_book(*, pipeline_id: int, as_of: date, stage_ids: np.ndarray, owner_ids: list[int] | None = None) -> Book:
    """The pipeline's open deals (of `owner_ids`, None: everyone's) as a `Book` for the deal-by-deal
    simulation, in one query."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    rows = list(
        deals.order_by("pk")
        .annotate(_amount=Cast("amount", FloatField()), _close=EpochDays("expected_close"))
        .values_list("owner_id", "stage_id", "_amount", "currency", "_close")
    )
    cols = list(zip(*rows)) if rows else [[] for _ in range(5)]
    n = len(rows)
    t = moment(as_of)
    closes = np.array(cols[4], dtype=np.float64)
    close = np.full(n, np.datetime64("NaT"), "datetime64[D]")
    known = ~np.isnan(closes)
    close[known] = closes[known].astype(np.int64).astype("datetime64[D]")
    return Book(
        as_of=t,
        index=np.arange(n),
        deal_id=np.arange(n),
        external_id=np.full(n, "", dtype=object),
        owner_id=np.array(cols[0], np.int64),
        stage=_positions(cols[1], stage_ids),
        status=np.full(n, OPEN, np.int8),
        status_since=np.full(n, t),
        amount=np.array(cols[2], dtype=np.float64),
        currency=np.array(cols[3], dtype=object),
        expected_close=close,
        probability=np.full(n, np.nan),
        category=np.zeros(n, np.int8),
    )


def _montecarlo_exact(
    *,
    book: Book,
    model: methods.LearnedModel,
    currencies: list[str],
    levels: list,
    calendars: list[methods.Calendar],
    won: list[np.ndarray],
    simulations: int,
    seed: int,
    quota: list[np.ndarray | None] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The open deals of `book` simulated deal by deal, once for every level and calendar (the
    snapshot's pipeline, teams and owners, months and quarters; the dashboard's one scope):
    per calendar, the expected total, P10, P50, P90 and the chance of reaching the quota per level,
    currency and period, each including what was won.

    `levels`: the owner ids each level sums (None: every deal of the book); `won[c]` and
    `quota[c]` (NaN: no quota) are shaped levels × currencies × periods of calendar c. All levels
    come from the same futures, so in each future an owner's, a team's and the pipeline's totals
    add up."""
    names, codes = methods.currency_index(book.currency)
    code = np.array([currencies.index(name) if name in currencies else -1 for name in names], np.int64)
    currency = code[codes] if len(codes) else codes
    if (currency < 0).any():  # opened in a new currency since the sums were read: in the next run
        book, currency = book.subset(currency >= 0), currency[currency >= 0]
    # Owners that count in the same levels (every owner, for one level of every deal) form one group.
    owners, owner_of_deal = np.unique(book.owner_id, return_inverse=True)
    member = np.array(
        [np.ones(len(owners), bool) if ids is None else np.isin(owners, list(ids)) for ids in levels], bool
    ).reshape(len(levels), len(owners))
    signatures, group_of_owner = np.unique(member.T, axis=0, return_inverse=True)
    group = group_of_owner.reshape(-1)[owner_of_deal.reshape(-1)]
    members = [np.flatnonzero(signatures[:, level]) for level in range(len(levels))]
    totals = methods.simulate_open(
        model,
        book,
        calendars=calendars,
        currency=currency,
        n_currencies=len(currencies),
        group=group,
        levels=members,
        simulations=simulations,
        seed=seed,
    )
    return [
        methods.simulated_figures(totals[c], won[c], None if quota is None else quota[c]) for c in range(len(calendars))
    ]


def _montecarlo_on_sums(
    *,
    data: _OpenSums,
    model,
    cells: _Cells,
    won,
    kind,
    first,
    horizon,
    as_of,
    seed,
    simulations: int | None = None,
    quota: np.ndarray | None = None,
):
    """The simulation of every level at once on the sums per stage and close day."""
    k = len(model.probability)
    levels, n_cur, _ = cells.shape
    dated = ~np.isnat(data.close) & (data.s1 > 0)
    idx = np.flatnonzero(dated)
    due = (data.close[idx] - np.datetime64(as_of, "D")).astype(np.int64)
    chance = methods.landing_chances(
        model, data.stage[idx], due, as_of_day=np.datetime64(as_of, "D"), kind=kind, first_period=first, horizon=horizon
    )
    s1 = np.zeros((levels, n_cur, horizon, k))
    rows = np.isin(cells.row, idx)
    row, level = cells.row[rows], cells.level[rows]
    q = chance[np.searchsorted(idx, row)]  # pairs × periods
    base = ((level * n_cur + data.currency[row]) * horizon)[:, None] + np.arange(horizon)[None, :]
    key = (base * k + data.stage[row][:, None]).ravel()
    size = s1.size
    a1, a2 = np.repeat(data.s1[row], horizon), np.repeat(data.s2[row], horizon)
    qf = q.ravel()
    shape = s1.shape
    s1 = np.bincount(key, weights=qf * a1, minlength=size).astype(float).reshape(shape)
    s2 = np.bincount(key, weights=qf * a2, minlength=size).astype(float).reshape(shape)
    s2q = np.bincount(key, weights=qf * qf * a2, minlength=size).astype(float).reshape(shape)
    return methods.montecarlo_aggregate(
        model.probability,
        model.correlation,
        s1,
        s2,
        s2q,
        won=won,
        simulations=simulations or SNAPSHOT_SIMULATIONS,
        seed=seed,
        quota=quota,
    )


@dataclass
class CurrentForecast:
    """The forecast of the current periods for some owners' deals (the dashboard's table): per
    currency (rows, sorted) and period (columns) the money won, the weighted and learned
    expectations and the Monte Carlo's expectation, P10, P50, P90 and chance of reaching the quota."""

    kind: str
    first_period: int
    currencies: list[str]
    won: np.ndarray
    weighted: np.ndarray
    learned: np.ndarray
    expected: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    quota_chance: np.ndarray | None

    def period_labels(self) -> list[str]:
        return [period_label(self.first_period + j, self.kind) for j in range(self.won.shape[1])]


def current_forecast(
    *,
    pipeline_id: int,
    kind: str,
    horizon: int,
    owner_ids: list[int] | None = None,
    as_of: date | None = None,
    simulations: int | None = None,
    seed: int = 0,
    quota: dict | None = None,
    model: methods.LearnedModel | None = None,
    stages: tuple | None = None,
) -> CurrentForecast:
    """The forecast as of today of the periods from the current one, for the deals of `owner_ids`
    (None: everyone's), from GROUP BY sums over the deals' current rows and the stored fit
    (`forecast_model`), in a constant number of queries: the figures of `forecast_run` for today
    without loading the history. The Monte Carlo runs deal by deal up to
    EXACT_MONTECARLO_MAX_DEALS open deals (the same draws as `forecast_run`), on sums beyond."""
    as_of = as_of or timezone.localdate()
    stages = stages if stages is not None else _stage_arrays(pipeline_id)
    stage_ids, configured, _ = stages
    if model is None:
        model = forecast_model(pipeline_id=pipeline_id, as_of=as_of, stages=stages)
    first = period_of_date(as_of, kind)
    data = _open_sums(
        pipeline_id=pipeline_id,
        stage_ids=stage_ids,
        won_from=period_start(first, kind),
        won_until=period_start(first + horizon, kind),
        owner_ids=owner_ids,
    )
    # Every currency of the owners' deals has its rows, as in `forecast_run` (lost deals too).
    deals = Deal.objects.filter(pipeline_id=pipeline_id)
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    currencies = sorted(set(deals.order_by().values_list("currency", flat=True).distinct()) | set(data.currencies))
    code = np.array([currencies.index(c) for c in data.currencies], np.int64)
    n_cur = len(currencies)
    shape = (n_cur, horizon)

    def total(values, currency, period):
        keep = period >= 0
        key = code[currency[keep]] * horizon + period[keep]
        sums = np.bincount(key, weights=np.asarray(values, float)[keep], minlength=n_cur * horizon)
        return sums.astype(float).reshape(shape)  # float even without a row

    period = _open_period(data.close, kind, first, horizon)
    won = total(data.won, data.won_currency, _won_period(data.won_month, kind, first, horizon))
    cp = configured[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
    weighted = won + total((data.s1 - data.own_s1) * cp + data.own_weighted / 100.0, data.currency, period)
    if model is None:  # a pipeline without stages: nothing open to forecast
        learned = won.copy()
        mc = {name: won.copy() for name in ("expected", "p10", "p50", "p90")}
        mc["quota_chance"] = None
    else:
        lp = model.probability[data.stage] if len(stage_ids) else np.zeros(len(data.stage))
        learned = won + total(lp * data.s1, data.currency, period)
        target = methods._quota_array(quota, currencies, horizon) if quota else None
        if int(data.count.sum()) <= EXACT_MONTECARLO_MAX_DEALS:
            # The snapshot's simulation with one level: the owners' deals.
            (one,) = _montecarlo_exact(
                book=_open_book(pipeline_id=pipeline_id, as_of=as_of, stage_ids=stage_ids, owner_ids=owner_ids),
                model=model,
                currencies=currencies,
                levels=[None],
                calendars=[methods.Calendar(kind, first, horizon)],
                won=[won[None]],
                simulations=simulations or SNAPSHOT_SIMULATIONS,
                seed=seed,
                quota=None if target is None else [target[None]],
            )
            mc = {name: None if values is None else values[0] for name, values in one.items()}
        else:
            cells = _Cells(data.owner, {}, [(None, None, None)], len(data.currencies), horizon)
            # The sums are per currency of `data`; the figures per currency of `currencies`.
            present = [currencies.index(c) for c in data.currencies]
            mc = _montecarlo_on_sums(
                data=data,
                model=model,
                cells=cells,
                won=won[present][None],
                kind=kind,
                first=first,
                horizon=horizon,
                as_of=as_of,
                seed=seed,
                simulations=simulations,
                quota=None if target is None else target[present][None],
            )
            out = {name: won.copy() for name in ("expected", "p10", "p50", "p90")}
            for name in out:
                out[name][present] = mc[name][0]
            if target is not None:
                # A currency without open deals: its total is what was won.
                chance = np.where(np.isnan(target), np.nan, (won >= target).astype(float))
                chance[present] = mc["quota_chance"][0]
                out["quota_chance"] = chance
            else:
                out["quota_chance"] = None
            mc = out
    return CurrentForecast(
        kind=kind,
        first_period=first,
        currencies=currencies,
        won=won,
        weighted=weighted,
        learned=learned,
        expected=mc["expected"],
        p10=mc["p10"],
        p50=mc["p50"],
        p90=mc["p90"],
        quota_chance=mc["quota_chance"],
    )


def _level_sums(db: dict, *, team_id, owner_id) -> dict:
    sums: dict = defaultdict(lambda: defaultdict(lambda: Decimal("0")))
    for (owner, team, currency, start), values in db.items():
        if owner_id is not None and owner != owner_id:
            continue
        if team_id is not None and team != team_id:
            continue
        for name, value in values.items():
            sums[(currency, start)][name] += value
    return sums


def _digest(rows: list[dict]) -> str:
    canonical = sorted(json.dumps({k: str(v) for k, v in row.items()}, sort_keys=True) for row in rows)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def forecast_refresh_pipeline(*, pipeline_id: int, as_of: date | None = None) -> dict:
    """Compute the pipeline's forecast as of today (or `as_of`) and persist it as snapshots.

    Atomic: the rows of a run are written in one transaction, or none are. Idempotent and
    append-only: rows are never updated; when the figures equal those of the latest run of the
    same day, nothing is written (`written` is 0); when they differ (deals changed), a new run
    is appended and readers take the latest run of a day. Concurrent refreshes of a pipeline
    are serialised by locking its row.

    The open pipeline's weighted and total amount per currency is also published in the cache
    (`forecast:pipeline:<id>`) once the transaction commits, so a refresh that fails publishes
    nothing. The result is JSON-safe; apart from `computed_at` and `written`, two refreshes of
    the same data return the same result."""
    as_of = as_of or timezone.localdate()
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
        if as_of == timezone.localdate():
            # Today the deals' current rows are the as-of state: sums in the database, the model
            # from the latest stored fit, no history to load.
            stages = _stage_arrays(pipeline_id)
            rows, by_currency = _today_rows(
                pipeline_id=pipeline_id,
                as_of=as_of,
                stages=stages,
                model=forecast_model(pipeline_id=pipeline_id, as_of=as_of, stages=stages),
            )
        else:
            history = load_history(pipeline_id=pipeline_id)
            rows = _snapshot_rows(pipeline_id=pipeline_id, as_of=as_of, history=history)
            by_currency = _open_totals(pipeline_id)
        digest = _digest(rows)
        summary = {"pipeline_id": pipeline_id, "computed_at": timezone.now().isoformat(), "by_currency": by_currency}
        transaction.on_commit(lambda: cache.set(f"forecast:pipeline:{pipeline_id}", summary, timeout=None))
        latest = (
            ForecastSnapshot.objects.filter(pipeline_id=pipeline_id, as_of=as_of)
            .order_by("-computed_at", "-pk")
            .values_list("digest", flat=True)
            .first()
        )
        result = {**summary, "as_of": as_of.isoformat(), "digest": digest, "rows": len(rows)}
        if latest == digest:
            return {**result, "written": 0}
        run, now = uuid.uuid4(), timezone.now()
        ForecastSnapshot.objects.bulk_create(
            [
                ForecastSnapshot(
                    run=run,
                    as_of=as_of,
                    computed_at=now,
                    pipeline_id=pipeline_id,
                    team_id=r["team"],
                    owner_id=r["owner"],
                    period_kind=r["kind"],
                    period_start=r["period_start"],
                    method=r["method"],
                    currency=r["currency"],
                    won=r["won"],
                    expected=r["expected"],
                    p10=r["p10"],
                    p50=r["p50"],
                    p90=r["p90"],
                    digest=digest,
                )
                for r in rows
            ],
            batch_size=2000,
        )
    return {**result, "written": len(rows)}


def _open_totals(pipeline_id: int) -> dict:
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


def latest_snapshots(*, pipeline_id: int, as_of: date | None = None) -> QuerySet[ForecastSnapshot]:
    """The rows of the latest run of the latest (or given) day."""
    qs = ForecastSnapshot.objects.filter(pipeline_id=pipeline_id)
    if as_of:
        qs = qs.filter(as_of=as_of)
    run = qs.order_by("-as_of", "-computed_at", "-pk").values_list("run", flat=True).first()
    return ForecastSnapshot.objects.filter(run=run) if run else ForecastSnapshot.objects.none()


# --- Learned probabilities --------------------------------------------------------------------------


def _stage_arrays(pipeline_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def forecast_fit_store(
    *, pipeline_id: int, fitted_on: date, history: History, model: methods.LearnedModel
) -> ForecastFit:
    """Keep a fit for the snapshots (append-only); the same parameters twice on a day write nothing."""
    parameters = methods.model_parameters(model, history.stage_ids)
    latest = (
        ForecastFit.objects.filter(pipeline_id=pipeline_id, fitted_on=fitted_on).order_by("-fitted_at", "-pk").first()
    )
    if latest is not None and latest.parameters == json.loads(json.dumps(parameters)):
        return latest
    return ForecastFit.objects.create(pipeline_id=pipeline_id, fitted_on=fitted_on, parameters=parameters)


def forecast_model(*, pipeline_id: int, as_of: date, stages: tuple | None = None) -> methods.LearnedModel | None:
    """The model today's snapshot uses: the latest fit stored on or before `as_of` (refitted on a
    schedule by `learned_probabilities_refit`). Without one yet, the history is fitted once now and
    the fit is kept (without any stage history, the fit is the configured probabilities, the
    default correlation and no slips). None for a pipeline without stages."""
    fit = (
        ForecastFit.objects.filter(pipeline_id=pipeline_id, fitted_on__lte=as_of)
        .order_by("-fitted_on", "-fitted_at", "-pk")
        .values_list("parameters", flat=True)
        .first()
    )
    stages = stages if stages is not None else _stage_arrays(pipeline_id)
    if not len(stages[0]):
        return None
    if fit is None:
        history = load_history(pipeline_id=pipeline_id)
        model = methods.fit_learned(history, as_of)
        fit = forecast_fit_store(pipeline_id=pipeline_id, fitted_on=as_of, history=history, model=model).parameters
    # Always from the stored parameters, so that the first run and the next ones agree.
    return methods.model_from_parameters(fit, *stages)


def learned_probabilities_refit(*, pipeline_id: int, fitted_on: date | None = None) -> list[LearnedProbability]:
    """Fit the learned probabilities of the pipeline's stages and keep them for the admin, and the
    whole fit (probabilities, close-date slips, correlation) for the snapshots (`ForecastFit`).
    Append-only; a second fit on the same day with the same result writes nothing."""
    fitted_on = fitted_on or timezone.localdate()
    history = load_history(pipeline_id=pipeline_id)
    model = methods.fit_learned(history, fitted_on)
    q = Decimal("0.0001")
    rows = [
        LearnedProbability(
            stage_id=int(stage_id),
            fitted_on=fitted_on,
            configured=Decimal(float(model.configured[i])).quantize(q),
            learned=Decimal(float(model.probability[i])).quantize(q),
            history_only=None if np.isnan(model.markov[i]) else Decimal(float(model.markov[i])).quantize(q),
            closed_deals=int(model.closed_deals[i]),
        )
        for i, stage_id in enumerate(history.stage_ids)
    ]
    with transaction.atomic():
        if len(history.stage_ids):
            forecast_fit_store(pipeline_id=pipeline_id, fitted_on=fitted_on, history=history, model=model)
        existing = {
            (r.stage_id, r.learned, r.history_only, r.closed_deals)
            for r in LearnedProbability.objects.filter(stage__pipeline_id=pipeline_id, fitted_on=fitted_on)
        }
        if existing and existing == {(r.stage_id, r.learned, r.history_only, r.closed_deals) for r in rows}:
            return []
        return LearnedProbability.objects.bulk_create(rows)


# --- Quotas -----------------------------------------------------------------------------------------


@dataclass
class Attainment:
    quota: Quota
    won: Decimal

    @property
    def ratio(self) -> float | None:
        return float(self.won / self.quota.amount) if self.quota.amount else None


def quota_attainment(*, kind: str, start: date, deals: QuerySet[Deal] | None = None) -> list[Attainment]:
    """Every quota of the period with the amount won against it (two GROUP BY queries)."""
    deals = deals if deals is not None else Deal.objects.all()
    end = period_end(period_of_date(start, kind), kind)
    won = deals.filter(status=DealStatus.WON, closed_at__gte=_aware(start), closed_at__lt=_aware(end)).order_by()
    by_user = {
        (r["owner_id"], r["currency"]): r["total"]
        for r in won.values("owner_id", "currency").annotate(total=Sum("amount"))
    }
    by_team = {
        (r["owner__team_id"], r["currency"]): r["total"]
        for r in won.values("owner__team_id", "currency").annotate(total=Sum("amount"))
    }
    quotas = Quota.objects.filter(period_kind=kind, period_start=start).select_related("user", "team")
    return [
        Attainment(
            quota=q,
            won=(by_user.get((q.user_id, q.currency)) if q.user_id else by_team.get((q.team_id, q.currency)))
            or Decimal("0"),
        )
        for q in quotas
    ]


# --- Accuracy ---------------------------------------------------------------------------------------


@dataclass
class Accuracy:
    periods: list[dict]  # period, currency, forecast, p10, p90, won
    by_currency: dict[str, dict]  # currency → {"wape", "bias", "coverage"}: money is never mixed
    brier: float
    calibration: list[dict]

    def _main(self, name: str) -> float:
        """The figure of the currency with the most won (for a one-line summary)."""
        if not self.by_currency:
            return float("nan")
        won = {c: sum(r["won"] for r in self.periods if r["currency"] == c) for c in self.by_currency}
        value = self.by_currency[max(won, key=won.get)][name]
        return float("nan") if value is None else value

    @property
    def wape(self) -> float:
        return self._main("wape")

    @property
    def bias(self) -> float:
        return self._main("bias")


def forecast_accuracy(
    *,
    method: str = Method.LEARNED,
    kind: str = QUARTER,
    periods: int = 4,
    pipeline_id: int | None = None,
    owner_ids: list[int] | None = None,
    today: date | None = None,
    simulations: int = 500,
    history: History | None = None,
) -> Accuracy:
    """For each of the last `periods` closed periods: the forecast made the evening before it
    started (rebuilt as of then) against what was won in it; WAPE and bias over them, and the
    Brier score and calibration of the probabilities given to the deals open at each start.
    `history`: the pipeline's, when the caller has loaded it already."""
    today = today or timezone.localdate()
    pipeline_id = pipeline_id or default_pipeline_id()
    history = history if history is not None else load_history(pipeline_id=pipeline_id)
    now_book = book_as_of(history, today)
    final_status = np.full(history.n_deals, -1, np.int8)
    final_status[now_book.index] = now_book.status
    current = period_of_date(today, kind)
    table, probs, outcomes = [], [], []
    for number in range(current - periods, current):
        start = period_start(number, kind)
        eve = start - timedelta(days=1)
        run = forecast_run(
            as_of=eve,
            method=method,
            kind=kind,
            horizon=1,  # made on the eve of the period: the forecast starts with it
            pipeline_id=pipeline_id,
            owner_ids=owner_ids,
            simulations=simulations,
            history=history,
        )
        end_book = book_as_of(history, period_end(number, kind) - timedelta(days=1))
        if owner_ids is not None:
            end_book = end_book.subset(np.isin(end_book.owner_id, list(owner_ids)))
        won_result = methods.weighted(history, end_book, kind=kind, first_period=number, horizon=1)
        result = run.result
        for c, currency in enumerate(result.currencies):
            w = won_result.currencies.index(currency) if currency in won_result.currencies else None
            table.append(
                {
                    "period": period_label(number, kind),
                    "currency": currency,
                    "forecast": float(result.expected[c, 0]),
                    "p10": float(result.p10[c, 0]),
                    "p90": float(result.p90[c, 0]),
                    "won": float(won_result.won[w, 0]) if w is not None else 0.0,
                }
            )
        opened = run.book.status == 0
        outcome = final_status[run.book.index[opened]]
        closed = outcome > 0
        probs.append(run.result.deal_probability[opened][closed])
        outcomes.append((outcome[closed] == 1).astype(float))
    by_currency = {}
    for currency in sorted({r["currency"] for r in table}):
        rows = [r for r in table if r["currency"] == currency]
        f, a = np.array([r["forecast"] for r in rows]), np.array([r["won"] for r in rows])
        lo, hi = np.array([r["p10"] for r in rows]), np.array([r["p90"] for r in rows])
        by_currency[currency] = {
            "wape": _finite(methods.wape(f, a)),
            "bias": _finite(methods.bias(f, a)),
            "coverage": float(np.mean((a >= lo) & (a <= hi))),
        }
    p = np.concatenate(probs) if probs else np.zeros(0)
    y = np.concatenate(outcomes) if outcomes else np.zeros(0)
    return Accuracy(
        periods=table,
        by_currency=by_currency,
        brier=methods.brier(p, y),
        calibration=methods.calibration(p, y),
    )


def _finite(value: float) -> float | None:
    """NaN (nothing was won, so the ratio has no meaning) as None."""
    return None if np.isnan(value) else value
