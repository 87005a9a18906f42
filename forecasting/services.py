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
from django.db import transaction
from django.db.models import DateField, ExpressionWrapper, F, FloatField, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, TruncMonth, TruncQuarter
from django.utils import timezone

from pipeline.models import Deal, DealStatus, ForecastCategory, Pipeline
from pipeline.selectors import weighted_amount_expression

from . import methods
from .history import Book, History, as_of as book_as_of
from .loading import load_history
from .models import ForecastSnapshot, LearnedProbability, Method, Quota
from .periods import MONTH, QUARTER, period_end, period_label, period_of_date, period_start

# What the daily snapshot covers.
SNAPSHOT_HORIZONS = {MONTH: 3, QUARTER: 2}
SNAPSHOT_SIMULATIONS = 1000
# A snapshot simulates each level (pipeline, team, owner); past this many deal-futures per level
# it uses fewer futures (never below MIN_SNAPSHOT_SIMULATIONS) so a daily run stays within minutes.
SNAPSHOT_CELL_BUDGET = 50_000_000
MIN_SNAPSHOT_SIMULATIONS = 200


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
) -> ForecastRun:
    """Forecast the periods from the one holding `as_of`, seeing only what was known then.

    Probabilities are learned from the whole pipeline; `owner_ids` narrows the deals summed."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}")
    pipeline_id = pipeline_id or default_pipeline_id()
    history = history if history is not None else load_history(pipeline_id=pipeline_id)
    book = book_as_of(history, as_of)
    if owner_ids is not None:
        book = book.subset(np.isin(book.owner_id, list(owner_ids)))
    first = period_of_date(as_of, kind)
    model = None
    if method == Method.WEIGHTED:
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


def _snapshot_rows(*, pipeline_id: int, as_of: date, history: History) -> list[dict]:
    """Every figure of the daily snapshot, as plain dicts (no ids, no times)."""
    User = get_user_model()
    deals = Deal.objects.filter(pipeline_id=pipeline_id)
    teams = dict(User.objects.filter(deals__pipeline_id=pipeline_id).distinct().values_list("pk", "team_id"))
    team_owners = defaultdict(list)
    for owner, team in teams.items():
        if team is not None:
            team_owners[team].append(owner)
    levels = [(None, None, None)] + [(t, None, o) for t, o in team_owners.items()] + [(None, o, [o]) for o in teams]

    rows = []
    book = book_as_of(history, as_of)
    model = methods.fit_learned(history, as_of) if len(history.sc_deal) else None
    for kind, horizon in SNAPSHOT_HORIZONS.items():
        first = period_of_date(as_of, kind)
        db = {
            (owner, teams.get(owner), currency, start): values
            for (owner, currency, start), values in period_sums(
                deals=deals, kind=kind, first_period=first, horizon=horizon, by=("owner_id",)
            ).items()
        }
        for team_id, owner_id, owner_ids in levels:
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
            sub = book if owner_ids is None else book.subset(np.isin(book.owner_id, owner_ids))
            seed = (pipeline_id * 1_000_003 + as_of.toordinal() + (owner_id or 0) * 7919 + (team_id or 0)) % 2**32
            for result in (
                methods.learned(model, sub, kind=kind, first_period=first, horizon=horizon),
                methods.montecarlo(
                    model,
                    sub,
                    kind=kind,
                    first_period=first,
                    horizon=horizon,
                    simulations=snapshot_simulations(int((sub.status == 0).sum())),
                    seed=seed,
                ),
            ):
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
        history = load_history(pipeline_id=pipeline_id)
        rows = _snapshot_rows(pipeline_id=pipeline_id, as_of=as_of, history=history)
        digest = _digest(rows)
        totals = (
            Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
            .order_by()
            .values("currency")
            .annotate(weighted=Sum(weighted_amount_expression()), total=Sum("amount"))
        )
        by_currency = {
            r["currency"]: {
                "weighted": str(Decimal(r["weighted"] or 0).quantize(methods.CENT)),
                "total": str(Decimal(r["total"] or 0).quantize(methods.CENT)),
            }
            for r in sorted(totals, key=lambda r: r["currency"])
        }
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


def latest_snapshots(*, pipeline_id: int, as_of: date | None = None) -> QuerySet[ForecastSnapshot]:
    """The rows of the latest run of the latest (or given) day."""
    qs = ForecastSnapshot.objects.filter(pipeline_id=pipeline_id)
    if as_of:
        qs = qs.filter(as_of=as_of)
    run = qs.order_by("-as_of", "-computed_at", "-pk").values_list("run", flat=True).first()
    return ForecastSnapshot.objects.filter(run=run) if run else ForecastSnapshot.objects.none()


# --- Learned probabilities --------------------------------------------------------------------------


def learned_probabilities_refit(*, pipeline_id: int, fitted_on: date | None = None) -> list[LearnedProbability]:
    """Fit the learned probabilities of the pipeline's stages and keep them for the admin.
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
) -> Accuracy:
    """For each of the last `periods` closed periods: the forecast made the evening before it
    started (rebuilt as of then) against what was won in it; WAPE and bias over them, and the
    Brier score and calibration of the probabilities given to the deals open at each start."""
    today = today or timezone.localdate()
    pipeline_id = pipeline_id or default_pipeline_id()
    history = load_history(pipeline_id=pipeline_id)
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
            horizon=2,
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
                    "forecast": float(result.expected[c, 1]),
                    "p10": float(result.p10[c, 1]),
                    "p90": float(result.p90[c, 1]),
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
