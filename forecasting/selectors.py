"""What the forecast dashboard shows, narrowed to what the asking user may see.

Reps see their own numbers, managers those of their teams (pipeline.selectors.visible_users),
admins everyone's. The forecast figures are those the recompute stored (`ForecastSnapshot`, one
level per scope: the pipeline, a team, an owner, a manager's people): a request reads them and
never computes a forecast, runs no simulation and writes nothing. Funnel, stage and stuck-deal
figures are GROUP BY queries kept in the cache; the accuracy of past periods too.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
from celery import current_app
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Avg, Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from currencies.money import round_money
from pipeline.models import Deal, DealChange, DealStatus, ForecastCategory, Pipeline, StageChange
from pipeline.selectors import visible_pipelines, visible_users

from . import accuracy, fits, tasks
from .models import ForecastEvidence, ForecastSnapshot, Method, Quota
from .periods import MONTH, QUARTER, period_label, period_of_date, period_start
from .snapshots import SNAPSHOT_HORIZONS
from .sums import stage_arrays

DASHBOARD_PERIODS = SNAPSHOT_HORIZONS[QUARTER]
ACCURACY_PERIODS = 4
STUCK_PERCENTILE = 80
STUCK_LIMIT = 20


class NotVisible(Exception):
    """A filter names a pipeline, team or rep the user may not see."""


@dataclass
class Filters:
    pipeline: Pipeline
    kind: str
    team_id: int | None = None
    owner_id: int | None = None
    owner_ids: list[int] | None = None  # None: everyone (admins without a filter)
    manager_id: int | None = None  # a manager without a filter: the people they see
    people: list = field(default_factory=list)
    teams: list = field(default_factory=list)
    pipelines: list = field(default_factory=list)

    def snapshot_scope(self) -> dict:
        """The stored level these filters show: an owner's, a team's, a manager's people's or
        (for admins without a filter) the pipeline's."""
        owner = self.owner_id
        if owner is None and self.team_id is None and self.manager_id is None and self.owner_ids is not None:
            owner = self.owner_ids[0] if len(self.owner_ids) == 1 else None
        team = self.team_id if owner is None else None
        manager = self.manager_id if owner is None and team is None else None
        return {"team_id": team, "owner_id": owner, "manager_id": manager}


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        raise NotVisible from None


def dashboard_filters(user, params) -> Filters:
    """Read the URL's filters; raise NotVisible for anything outside the user's view."""
    from accounts.models import Team

    pipelines = list(visible_pipelines(user))
    pipeline_id = _int(params.get("pipeline"))
    pipeline = (
        next((p for p in pipelines if p.pk == pipeline_id), None)
        if pipeline_id
        else (next((p for p in pipelines if p.is_default), None) or (pipelines[0] if pipelines else None))
    )
    if pipeline is None:
        raise NotVisible
    kind = params.get("period") if params.get("period") in (MONTH, QUARTER) else QUARTER
    if user.is_admin:
        people = list(visible_users(user).select_related("team"))
    elif user.is_manager:
        people = list(visible_users(user).select_related("team"))
    else:
        people = [user]
    team_ids = {p.team_id for p in people if p.team_id}
    teams = list(Team.objects.filter(pk__in=team_ids)) if (user.is_admin or user.is_manager) else []
    team_id, owner_id = _int(params.get("team")), _int(params.get("owner"))
    if team_id is not None and team_id not in {t.pk for t in teams}:
        raise NotVisible
    if owner_id is not None and owner_id not in {p.pk for p in people}:
        raise NotVisible
    if owner_id is not None:
        owner_ids = [owner_id]
    elif team_id is not None:
        owner_ids = [p.pk for p in people if p.team_id == team_id]
    elif user.is_admin:
        owner_ids = None
    else:
        owner_ids = [p.pk for p in people]
    return Filters(
        pipeline=pipeline,
        kind=kind,
        team_id=team_id,
        owner_id=owner_id,
        owner_ids=owner_ids,
        manager_id=user.pk if user.is_manager and not user.is_admin and owner_id is None and team_id is None else None,
        people=people,
        teams=teams,
        pipelines=pipelines,
    )


@dataclass(frozen=True)
class StoredRun:
    """The latest recompute of a pipeline's forecast: its rows share `run`."""

    run: uuid.UUID
    as_of: date
    computed_at: datetime


def stored_run(pipeline_id: int) -> StoredRun | None:
    row = (
        ForecastSnapshot.objects.filter(pipeline_id=pipeline_id)
        .order_by("-as_of", "-computed_at", "-pk")
        .values_list("run", "as_of", "computed_at")
        .first()
    )
    return StoredRun(*row) if row else None


@dataclass(frozen=True)
class Freshness:
    """How current the pipeline's stored forecast is."""

    computed_at: datetime | None  # the latest recompute; None before the first one
    changes: int  # stage moves and field changes of the pipeline's deals since then
    updating: bool  # a worker has a recompute queued (debounced after a change) or running


def forecast_freshness(pipeline_id: int, run: StoredRun | None = None) -> Freshness:
    """When the pipeline's forecast was last computed, how many changes of its deals came since,
    and whether a worker is on its way with a newer one: the debounce marker of forecasting.tasks
    is set from a change until its recompute starts, and the refresh lock is held while one runs.
    Without a worker (laptop mode) nothing is queued, so nothing is said to be on its way."""
    run = run if run is not None else stored_run(pipeline_id)
    if run is None:
        return Freshness(computed_at=None, changes=0, updating=False)
    changes = (
        StageChange.objects.filter(deal__pipeline_id=pipeline_id, at__gt=run.computed_at).count()
        + DealChange.objects.filter(deal__pipeline_id=pipeline_id, at__gt=run.computed_at).count()
    )
    updating = False
    if not current_app.conf.task_always_eager:
        try:
            updating = cache.get(tasks.debounce_key(pipeline_id)) is not None or tasks.refresh_lock(pipeline_id).locked()
        except Exception:  # an unreachable cache must not take the dashboard down; it just cannot tell
            updating = False
    return Freshness(computed_at=run.computed_at, changes=changes, updating=updating)


def scoped_deals(filters: Filters) -> QuerySet[Deal]:
    deals = Deal.objects.filter(pipeline=filters.pipeline)
    if filters.owner_ids is not None:
        deals = deals.filter(owner_id__in=filters.owner_ids)
    return deals


def _money(value) -> float:
    return float(Decimal(value or 0).quantize(Decimal("0.01")))


def dashboard(user, filters: Filters, *, today: date | None = None) -> dict:
    """Everything the dashboard shows, in a number of queries that does not grow with the deals:
    the forecast figures and the reps' table as the latest recompute stored them (`run`, None
    before the first one), the funnel and stage figures from GROUP BY queries, and the accuracy of
    past periods from the cache (`dashboard_accuracy`)."""
    today = today or timezone.localdate()
    deals = scoped_deals(filters)
    stages = stage_arrays(filters.pipeline.pk)
    model = fits.stored_model(pipeline_id=filters.pipeline.pk, as_of=today, stages=stages)
    run = stored_run(filters.pipeline.pk)
    periods = stored_periods(run, filters) if run else []
    evidence = stored_evidence(run, filters) if run else Evidence()
    for row in periods:
        row["headline"] = row.get(HEADLINE_FIGURE[evidence.default_method])
    return {
        "today": today,
        "run": run,
        "periods": periods,
        "evidence": evidence,
        "currencies": sorted({r["currency"] for r in periods}),
        "reps": rep_table(run, filters, evidence.conversion) if run else [],
        "funnel": funnel(deals, filters.pipeline, cache_key=_scope_key("funnel", filters)),
        "stages": stage_stats(deals, filters.pipeline, model, cache_key=_scope_key("stage-history", filters)),
        "stuck": stuck_deals(deals, filters.pipeline),
        "accuracy": dashboard_accuracy(filters, today=today, stages=stages),
    }


# The figure of each period shown first for a method: the Monte Carlo's is its median.
HEADLINE_FIGURE = {Method.WEIGHTED: "weighted", Method.LEARNED: "learned", Method.MONTECARLO: "p50"}
BASELINE_LABELS = {
    "last period": _("Last period's actual"),
    "mean of last 3": _("Mean of the last three periods"),
    "same period a year ago": _("Same period a year ago"),
}


@dataclass
class Evidence:
    """What the recompute stored beside its figures: the open deals of the scope that lack an
    amount or an expected close date (`warnings`, None when the run kept none), and how each method
    and naive baseline would have done on this installation's history (`scores`, empty before
    enough history), with the method that did best, which the dashboard shows first."""

    warnings: dict | None = None
    conversion: dict | None = None  # conversion.Conversion.as_dict(), None when nothing was converted
    scores: list[dict] = field(default_factory=list)
    best: str | None = None
    kind: str | None = None
    currency: str | None = None
    periods: int = 0

    @property
    def default_method(self) -> str:
        return self.best or Method.MONTECARLO

    @property
    def default_label(self) -> str:
        return dict(Method.choices)[self.default_method]

    @property
    def rate_warnings(self) -> list[str]:
        """What the figures in the reporting currency leave out for want of a rate."""
        if not self.conversion:
            return []
        from currencies.rates import missing_message

        target = self.conversion["currency"]
        return [missing_message(m, target) for m in self.conversion["missing"]]


def stored_evidence(run: StoredRun, filters: Filters) -> Evidence:
    """The run's evidence for the filters' scope (one query)."""
    row = ForecastEvidence.objects.filter(run=run.run).values_list("warnings", "comparison", "conversion").first()
    if row is None:
        return Evidence()
    warnings, comparison, conversion = row
    scope = filters.snapshot_scope()
    mine = next(
        (
            w
            for w in warnings
            if (w["team"], w["owner"], w["manager"]) == (scope["team_id"], scope["owner_id"], scope["manager_id"])
        ),
        None,
    )
    if not comparison:
        return Evidence(warnings=mine, conversion=conversion)
    methods_ = dict(Method.choices)
    scores = [
        {
            **score,
            "label": methods_.get(score["name"]) if score["method"] else BASELINE_LABELS.get(score["name"], score["name"]),
            "best": score["name"] == comparison["best"],
        }
        for score in comparison["scores"]
    ]
    return Evidence(
        warnings=mine,
        conversion=conversion,
        scores=scores,
        best=comparison["best"],
        kind=comparison["kind"],
        currency=comparison["currency"],
        periods=comparison["periods"],
    )


def _float(value) -> float | None:
    return None if value is None else float(value)


def stored_periods(run: StoredRun, filters: Filters) -> list[dict]:
    """The stored figures of the filters' scope per period (one query): won, the weighted and
    learned expectations, the Monte Carlo's expectation, P10, P50, P90, and the scope's quota with
    the chance of reaching it. A method the recompute could not run (a pipeline without stage
    history has no learned model) is None.

    One card per period in the reporting currency when the run converted its deals (`converted`
    rows), each with the figures per currency as entered (`originals`); else one card per period
    and currency (a pipeline whose deals are all in one currency)."""
    rows = (
        ForecastSnapshot.objects.filter(
            run=run.run,
            period_kind=filters.kind,
            method__in=[Method.WEIGHTED, Method.LEARNED, Method.MONTECARLO, Method.NEW_BUSINESS],
            **filters.snapshot_scope(),
        )
        .order_by()
        .values_list(
            "period_start", "currency", "converted", "method", "won", "expected", "p10", "p50", "p90", "quota",
            "quota_chance",
        )
    )
    cells: dict = {}
    for start, currency, converted, method, won, expected, p10, p50, p90, quota, chance in rows:
        cell = cells.setdefault(
            (converted, start, currency),
            {
                "period": period_label(period_of_date(start, filters.kind), filters.kind),
                "currency": currency,
                "converted": converted,
                "won": float(won),
                # No weighted row: nothing open closes in that period, only what was won counts.
                "weighted": float(won),
                **dict.fromkeys(
                    ("learned", "new_business", "expected", "p10", "p50", "p90", "quota", "quota_chance")
                ),
            },
        )
        if method == Method.WEIGHTED:
            cell["weighted"] = float(expected)
        elif method == Method.LEARNED:
            cell["learned"] = float(expected)
        elif method == Method.NEW_BUSINESS:
            cell["new_business"] = float(expected)
        else:
            cell.update(
                expected=float(expected), p10=float(p10), p50=float(p50), p90=float(p90),
                quota=_float(quota), quota_chance=_float(chance),
            )
    converted = [cells[key] for key in sorted(cells) if key[0]]
    originals = [cells[key] for key in sorted(cells) if not key[0]]
    if not converted:
        return originals
    for card in converted:
        card["originals"] = [o for o in originals if o["period"] == card["period"]]
    return converted


# The accuracy of past periods changes only when the past or a deal's outcome changes (or another
# day begins): it is kept in the cache under the pipeline's past version, which
# `forecasting.receivers` renews on every `pipeline.signals.deals_changed` but an open deal's move
# between open stages (the most frequent change: a drag on the board).
ACCURACY_CACHE_SECONDS = 24 * 3600


def data_version_key(pipeline_id: int, *, past: bool = False) -> str:
    return f"forecast:{'past-version' if past else 'data-version'}:{pipeline_id}"


def data_version_renew(pipeline_id: int, *, past: bool = True) -> None:
    """The pipeline's deals changed: figures cached under its data version are no longer used.
    With `past`, also those under its past version: the accuracy of closed periods and the
    stuck-deal limits, which only a change of the past or of a deal's outcome alters."""
    versions = {data_version_key(pipeline_id): uuid.uuid4().hex}
    if past:
        versions[data_version_key(pipeline_id, past=True)] = uuid.uuid4().hex
    cache.set_many(versions, timeout=None)


def _data_version(pipeline_id: int, *, past: bool = False) -> str | None:
    """The pipeline's data (or past) version, None when the cache cannot keep one (then nothing
    is cached)."""
    key = data_version_key(pipeline_id, past=past)
    try:
        version = cache.get(key)
        if version is None:
            data_version_renew(pipeline_id)
            version = cache.get(key)
    except Exception:  # an unreachable cache: compute, do not cache
        return None
    return version


def _cached(key: str | None, compute):
    """`compute()`, kept in the cache under `key` for a day (not kept when `key` is None)."""
    value = None
    if key is not None:
        try:
            value = cache.get(key)
        except Exception:
            key = None
    if value is None:
        value = compute()
        if key is not None:
            try:
                cache.set(key, value, timeout=ACCURACY_CACHE_SECONDS)
            except Exception:
                pass
    return copy.deepcopy(value)


def _scope_key(name: str, filters: Filters) -> str | None:
    """A cache key for figures of the filtered owners' deals under the pipeline's data version."""
    version = _data_version(filters.pipeline.pk)
    if version is None:
        return None
    owners = "all" if filters.owner_ids is None else ",".join(str(o) for o in sorted(filters.owner_ids))
    digest = hashlib.sha256(owners.encode()).hexdigest()[:24]
    return f"forecast:{name}:{filters.pipeline.pk}:{version}:{digest}"


def _accuracy_key(filters: Filters, today: date, stages: tuple, version: str | None = None) -> str | None:
    version = version or _data_version(filters.pipeline.pk, past=True)
    if version is None:
        return None
    owners = "all" if filters.owner_ids is None else ",".join(str(o) for o in sorted(filters.owner_ids))
    # The stages' configured probabilities and kinds are part of the refits as of each period.
    stage_ids, configured, is_won = stages
    scope = f"{owners}|{stage_ids.tolist()}|{configured.tolist()}|{is_won.tolist()}"
    digest = hashlib.sha256(scope.encode()).hexdigest()[:24]
    return (
        f"forecast:accuracy:{filters.pipeline.pk}:{filters.kind}:{ACCURACY_PERIODS}:{today.isoformat()}:"
        f"{version}:{digest}"
    )


# The scopes (period kind, owners) whose accuracy was looked at lately: after a recompute, the worker
# computes theirs again for the new data version (`accuracy_warm`), so that the next view finds it.
ACCURACY_SCOPES_KEPT = 50


def _scopes_key(pipeline_id: int) -> str:
    return f"forecast:accuracy-scopes:{pipeline_id}"


def _accuracy(filters: Filters, today: date, history=None) -> accuracy.Accuracy:
    return accuracy.forecast_accuracy(
        method=Method.LEARNED,
        kind=filters.kind,
        periods=ACCURACY_PERIODS,
        pipeline_id=filters.pipeline.pk,
        owner_ids=filters.owner_ids,
        today=today,
        history=history,
    )


def dashboard_accuracy(filters: Filters, *, today: date, stages: tuple | None = None) -> accuracy.Accuracy:
    """The forecast accuracy of the last ACCURACY_PERIODS closed periods for the filtered owners:
    computed once per day and data version (it rebuilds each period's forecast from the history)."""
    stages = stages if stages is not None else stage_arrays(filters.pipeline.pk)
    key = _accuracy_key(filters, today, stages)
    if key is not None:
        scope = (filters.kind, None if filters.owner_ids is None else tuple(sorted(filters.owner_ids)))
        try:
            scopes = cache.get(_scopes_key(filters.pipeline.pk)) or []
            if scope not in scopes:
                cache.set(_scopes_key(filters.pipeline.pk), [scope, *scopes][:ACCURACY_SCOPES_KEPT], 2 * 24 * 3600)
        except Exception:
            pass
    return _cached(key, lambda: _accuracy(filters, today))


def accuracy_warm(pipeline_id: int, *, today: date | None = None) -> int:
    """Compute the accuracy of the scopes looked at lately for the pipeline's current data version
    (one history load for all); returns how many were computed. For the worker, after a recompute."""
    today = today or timezone.localdate()
    version = _data_version(pipeline_id, past=True)
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    try:
        scopes = cache.get(_scopes_key(pipeline_id)) or []
    except Exception:
        return 0
    if version is None or pipeline is None or not scopes:
        return 0
    from .loading import load_history

    stages = stage_arrays(pipeline_id)
    history = load_history(pipeline_id=pipeline_id)
    computed = 0
    for kind, owners in scopes:
        filters = Filters(pipeline=pipeline, kind=kind, owner_ids=None if owners is None else list(owners))
        key = _accuracy_key(filters, today, stages, version)
        if cache.get(key) is None:
            cache.set(key, _accuracy(filters, today, history), timeout=ACCURACY_CACHE_SECONDS)
            computed += 1
    return computed


def rep_table(run: StoredRun, filters: Filters, conversion: dict | None = None) -> list[dict]:
    """Per rep in the run's first period, as stored: won, weighted open, learned open and commit;
    beside each rep's quota (configuration, read now) and attainment. Reps with a quota but no
    figure are listed too. Learned open stands beside weighted open because deals without an
    expected close date count for nothing in the weighted figure, but the learned forecast expects
    them to close some time (from the timing model): a rep whose deals lack dates is not a rep with
    nothing in the pipeline.

    When the run converted its deals (`conversion`, the run's evidence), one row per rep in the
    reporting currency (quotas converted at the run's rates; a quota in a currency without one is
    left out), with the rep's figures per currency as entered in `originals`; else one row per rep
    and currency."""
    User = get_user_model()
    start = period_start(period_of_date(run.as_of, filters.kind), filters.kind)
    stored = ForecastSnapshot.objects.filter(
        run=run.run,
        period_kind=filters.kind,
        period_start=start,
        owner__isnull=False,
        method__in=[Method.WEIGHTED, Method.LEARNED, ForecastCategory.COMMIT],
    )
    quotas = Quota.objects.filter(period_kind=filters.kind, period_start=start, user__isnull=False)
    if filters.owner_ids is not None:
        stored = stored.filter(owner_id__in=filters.owner_ids)
        quotas = quotas.filter(user_id__in=filters.owner_ids)
    figures: dict = defaultdict(dict)
    for owner, currency, converted, method, won, expected in stored.order_by().values_list(
        "owner_id", "currency", "converted", "method", "won", "expected"
    ):
        figures[(owner, currency, converted)]["won"] = won
        figures[(owner, currency, converted)][method] = expected
    targets = {(q["user_id"], q["currency"]): q["amount"] for q in quotas.values("user_id", "currency", "amount")}
    owners = {o for o, _currency, _c in figures} | {u for u, _currency in targets}
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=owners)}

    def row(owner, currency, values, target):
        won = values.get("won", Decimal("0"))
        return {
            "owner": names.get(owner, "?"),
            "owner_id": owner,
            "currency": currency,
            "won": _money(won),
            "weighted": _money(values.get(Method.WEIGHTED, won) - won),
            "learned": _money(values.get(Method.LEARNED, won) - won),
            "commit": _money(values.get(ForecastCategory.COMMIT)),
            "quota": _money(target) if target is not None else None,
            "attainment": float(won / target) if target else None,
        }

    per_currency = [
        row(owner, currency, figures.get((owner, currency, False), {}), targets.get((owner, currency)))
        for owner, currency in sorted(
            {(o, c) for o, c, converted in figures if not converted} | set(targets),
            key=lambda k: (names.get(k[0], ""), k[0], k[1]),
        )
    ]
    if not conversion or not any(converted for _o, _c, converted in figures):
        return per_currency
    reporting, rates = conversion["currency"], conversion.get("rates", {})
    rows = []
    for owner in sorted(owners, key=lambda o: (names.get(o, ""), o)):
        target = None
        for (user, currency), amount in targets.items():
            rate = Decimal(1) if currency == reporting else (Decimal(rates[currency]) if rates.get(currency) else None)
            if user == owner and rate is not None:
                target = (target or Decimal(0)) + round_money(amount * rate, reporting)
        rows.append(
            {
                **row(owner, reporting, figures.get((owner, reporting, True), {}), target),
                "originals": [r for r in per_currency if r["owner_id"] == owner],
            }
        )
    return rows


def funnel(deals: QuerySet[Deal], pipeline: Pipeline, *, cache_key: str | None = None) -> list[dict]:
    """How many deals reached each stage (board order), and the drop-off to the next one (none where
    more deals reached the next stage than this one). The counts are kept under `cache_key` (a data version's), the stages are read as they are now."""
    reached = _cached(
        cache_key,
        lambda: dict(
            StageChange.objects.filter(deal__in=deals.values("pk"), to_status__in=[DealStatus.OPEN, DealStatus.WON])
            .order_by()
            .values("to_stage_id")
            .annotate(n=Count("deal_id", distinct=True))
            .values_list("to_stage_id", "n")
        ),
    )
    stages = list(pipeline.stages.order_by("position", "pk"))
    rows = []
    for i, stage in enumerate(stages):
        n = reached.get(stage.pk, 0)
        nxt = reached.get(stages[i + 1].pk, 0) if i + 1 < len(stages) else None
        # More deals reached the next stage than this one when deals enter later stages directly
        # (an import that knows only the stage a deal was created in): that is no drop-off.
        drop_off = (1 - nxt / n) if (nxt is not None and n and nxt <= n) else None
        rows.append({"stage": stage.name, "deals": n, "drop_off": drop_off})
    return rows


def stage_stats(deals: QuerySet[Deal], pipeline: Pipeline, model, *, cache_key: str | None = None) -> list[dict]:
    """Per stage: the historical win rate of closed deals that passed through it, the learned and
    configured probabilities, and the average days deals spent in it. The rates and times are kept
    under `cache_key` (a data version's), the stages and the model are as they are now."""
    rates, times = _cached(cache_key, lambda: _stage_history(deals))
    rows = []
    for i, stage in enumerate(pipeline.stages.order_by("position", "pk")):
        r = rates.get(stage.pk)
        avg = times.get(stage.pk)
        rows.append(
            {
                "stage": stage.name,
                "win_rate": (r["won"] / r["closed"]) if r and r["closed"] else None,
                "closed": r["closed"] if r else 0,
                "configured": stage.probability / 100,
                "learned": float(model.probability[i]) if model is not None and i < len(model.probability) else None,
                "avg_days": round(avg.total_seconds() / 86400, 1) if avg else None,
            }
        )
    return rows


def _stage_history(deals: QuerySet[Deal]) -> tuple[dict, dict]:
    scope = deals.values("pk")
    closed_through = (
        StageChange.objects.filter(deal__in=scope, deal__status__in=[DealStatus.WON, DealStatus.LOST])
        .order_by()
        .values("to_stage_id")
        .annotate(
            closed=Count("deal_id", distinct=True),
            won=Count("deal_id", distinct=True, filter=Q(deal__status=DealStatus.WON)),
        )
    )
    rates = {r["to_stage_id"]: r for r in closed_through}
    times = dict(
        StageChange.objects.filter(deal__in=scope, from_stage__isnull=False, time_in_previous__isnull=False)
        .exclude(from_stage=F("to_stage"))
        .order_by()
        .values("from_stage_id")
        .annotate(avg=Avg("time_in_previous"))
        .values_list("from_stage_id", "avg")
    )
    return rates, times


def stuck_deals(deals: QuerySet[Deal], pipeline: Pipeline, *, now=None) -> list[dict]:
    """Open deals in their stage for longer than STUCK_PERCENTILE % of won deals stayed there."""
    now = now or timezone.now()
    # The same for every filter, and changed only by how won deals went: kept per past version.
    version = _data_version(pipeline.pk, past=True)
    key = None if version is None else f"forecast:stuck-limits:{pipeline.pk}:{STUCK_PERCENTILE}:{version}"
    limits = _cached(key, lambda: _won_time_percentiles(pipeline, STUCK_PERCENTILE, at_least=5))
    if not limits:
        return []
    condition = Q()
    for stage_id, seconds in limits.items():
        condition |= Q(stage_id=stage_id, stage_entered_at__lt=now - timedelta(seconds=seconds))
    stuck = (
        deals.filter(condition, status=DealStatus.OPEN)
        .select_related("stage", "owner", "organization")
        .order_by("stage_entered_at")[:STUCK_LIMIT]
    )
    return [
        {"deal": d, "days": (now - d.stage_entered_at).days, "usual_days": round(limits[d.stage_id] / 86400)}
        for d in stuck
    ]


def _won_time_percentiles(pipeline: Pipeline, percentile: float, *, at_least: int) -> dict[int, float]:
    """Per stage, the `percentile` of the seconds won deals stayed in it (linear interpolation, as
    numpy.percentile), for stages left by at least `at_least` of them: one GROUP BY for the counts,
    then the two ranked values around the percentile of each stage (bounded queries)."""
    durations = (
        StageChange.objects.filter(
            deal__pipeline=pipeline,
            deal__status=DealStatus.WON,
            from_stage__isnull=False,
            time_in_previous__isnull=False,
        )
        .exclude(from_stage=F("to_stage"))
        .order_by()
    )
    counts = dict(durations.values("from_stage_id").annotate(n=Count("*")).values_list("from_stage_id", "n"))
    limits = {}
    for stage_id, n in sorted(counts.items()):
        if n < at_least:
            continue
        position = n * (percentile / 100) + (1 - percentile / 100) - 1  # numpy's "linear" method
        below = int(np.floor(position))
        fraction = position - below
        values = [
            d.total_seconds()
            for d in durations.filter(from_stage_id=stage_id)
            .order_by("time_in_previous")
            .values_list("time_in_previous", flat=True)[below : below + 2]
        ]
        low, high = values[0], values[-1]
        step = high - low
        limits[stage_id] = float(high - step * (1 - fraction) if fraction >= 0.5 else low + step * fraction)
    return limits
