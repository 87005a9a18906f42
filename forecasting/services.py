"""Forecasting's writes: the recompute that stores the snapshot (`forecast_refresh_pipeline`, run
by forecasting.tasks) and the fits of the learned model. Append-only rows, one transaction each.

What they compute lives beside them: `snapshots` (every figure of a snapshot), `sums` (today's
GROUP BY queries), `montecarlo`, `runs` (a forecast as of any day from the history), `accuracy`
and `quotas`; the maths in `methods`.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from pipeline.models import Pipeline

from . import evaluation, methods, today_outlook
from .history import History, moment
from .loading import load_history
from .fits import stored_parameters
from .models import ForecastEvidence, ForecastFit, ForecastSnapshot, LearnedProbability
from .snapshots import past_rows, rows_digest, today_rows
from .sums import open_totals, stage_arrays

def forecast_recompute_request(*, pipeline_id: int) -> None:
    """Queue a recompute of the pipeline's forecast once the current transaction commits (the
    worker runs it; in laptop mode it runs in-process)."""
    from .tasks import forecast_refresh

    transaction.on_commit(lambda: forecast_refresh.delay(pipeline_id), robust=True)


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
            stages = stage_arrays(pipeline_id)
            fit = forecast_fit(pipeline_id=pipeline_id, as_of=as_of) if len(stages[0]) else None
            rows, by_currency, warnings, conversion = today_rows(
                pipeline_id=pipeline_id,
                as_of=as_of,
                stages=stages,
                model=forecast_model(pipeline_id=pipeline_id, as_of=as_of, stages=stages, fit=fit),
                outlook=fit.outlook if fit else None,
            )
            comparison = fit.evaluation if fit else None
        else:
            history = load_history(pipeline_id=pipeline_id)
            rows = past_rows(pipeline_id=pipeline_id, as_of=as_of, history=history)
            by_currency = open_totals(pipeline_id)
            warnings, comparison, conversion = [], None, None
        # The run's evidence counts in its digest: new warnings or a new comparison make a new run.
        digest = rows_digest(rows, extra={"warnings": warnings, "comparison": comparison, "conversion": conversion})
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
                    manager_id=r["manager"],
                    period_kind=r["kind"],
                    period_start=r["period_start"],
                    method=r["method"],
                    currency=r["currency"],
                    won=r["won"],
                    expected=r["expected"],
                    p10=r["p10"],
                    p50=r["p50"],
                    p90=r["p90"],
                    quota=r["quota"],
                    quota_chance=r["quota_chance"],
                    converted=r.get("converted", False),
                    digest=digest,
                )
                for r in rows
            ],
            batch_size=2000,
        )
        ForecastEvidence.objects.create(
            run=run, pipeline_id=pipeline_id, as_of=as_of, computed_at=now, warnings=warnings, comparison=comparison,
            conversion=conversion,
        )
    return {**result, "written": len(rows)}


def forecast_fit_store(
    *, pipeline_id: int, fitted_on: date, history: History, model: methods.LearnedModel
) -> ForecastFit:
    """Keep a fit for the snapshots (append-only): the learned model's parameters, the outlook's
    timing and new business (`today_outlook.outlook_fit`) and the backtest of the methods on this
    history (`evaluation.evaluate`). The same fit twice on a day writes nothing."""
    parameters = json.loads(json.dumps(methods.model_parameters(model, history.stage_ids)))
    fitted_outlook = json.loads(json.dumps(today_outlook.outlook_fit(history, fitted_on)))
    comparison = history_comparison(history, fitted_on)
    latest = (
        ForecastFit.objects.filter(pipeline_id=pipeline_id, fitted_on=fitted_on).order_by("-fitted_at", "-pk").first()
    )
    if latest is not None and (latest.parameters, latest.outlook, latest.evaluation) == (
        parameters,
        fitted_outlook,
        comparison,
    ):
        return latest
    return ForecastFit.objects.create(
        pipeline_id=pipeline_id, fitted_on=fitted_on, parameters=parameters, outlook=fitted_outlook,
        evaluation=comparison,
    )  # fmt: skip


# Futures per method and month in the backtest kept with a fit: the comparison ranks methods, and
# ranking needs far fewer futures than a forecast's range (it runs once for every past month).
COMPARISON_SIMULATIONS = 300


def history_comparison(history: History, fitted_on: date) -> dict | None:
    """How each method and the naive baselines would have forecast the won amount of each past
    month on this history (`backtest --history`), JSON-safe; None while too short to score."""
    if not history.n_deals or not len(history.stage_ids):
        return None
    end = min(evaluation.history_end(history), moment(fitted_on))
    result = evaluation.evaluate(history, simulations=COMPARISON_SIMULATIONS, end=end)
    return json.loads(json.dumps(result.summary()))


def forecast_fit(*, pipeline_id: int, as_of: date) -> ForecastFit:
    """The latest fit stored on or before `as_of` (refitted on a schedule by
    `learned_probabilities_refit`). Without one yet, the history is fitted once now and the fit is
    kept. (A fit made before fits kept the outlook has none: the snapshot then keeps the stage
    probabilities and the reps' dates until the next scheduled refit.)"""
    fit = (
        ForecastFit.objects.filter(pipeline_id=pipeline_id, fitted_on__lte=as_of)
        .order_by("-fitted_on", "-fitted_at", "-pk")
        .first()
    )
    if fit is None:
        history = load_history(pipeline_id=pipeline_id)
        model = methods.fit_learned(history, as_of)
        fit = forecast_fit_store(pipeline_id=pipeline_id, fitted_on=as_of, history=history, model=model)
    return fit


def forecast_model(
    *, pipeline_id: int, as_of: date, stages: tuple | None = None, fit: ForecastFit | None = None
) -> methods.LearnedModel | None:
    """The model today's snapshot uses, from the stored fit (`forecast_fit`; without any stage
    history, the fit is the configured probabilities, the default correlation and no slips). None
    for a pipeline without stages."""
    stages = stages if stages is not None else stage_arrays(pipeline_id)
    if not len(stages[0]):
        return None
    fit = fit or forecast_fit(pipeline_id=pipeline_id, as_of=as_of)
    # Always from the stored parameters, so that the first run and the next ones agree.
    return methods.model_from_parameters(fit.parameters, *stages)


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
