"""The forecast rows: the recompute (full, and after one move) and a Monte Carlo run, each with
its floor from bench/floors_forecast.py. Calls only the forecasting app's public functions."""
import statistics
import sys
import time

import numpy as np
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from bench import floors_forecast
from bench.timing import summary, timed

MONTECARLO_SIMULATIONS = 1000


def timed_counted(fn, repeat: int) -> tuple[list[float], int]:
    """Milliseconds of `repeat` calls, and the queries of the first (counted while timed: at a
    million deals an extra run only to count would cost minutes)."""
    times, queries = [], None
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            times += timed(fn, 1)
        queries = len(ctx.captured_queries) if queries is None else queries
    return times, queries


def progress(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def _row(times: list[float], floor_times: list[float], queries: int, **extra) -> dict:
    return {**summary(times), "queries": queries, "bytes": None, "floor_ms": statistics.median(floor_times), **extra}


def forecast_rows(*, pipeline_id: int, rep, repeat: int, montecarlo: bool = True, label: dict | None = None) -> dict:
    """{row name: measurement}. `label` (e.g. {"deals": 1_000_000, "deals_kind": "total"}) is
    copied into each row so that the table can say what the size is."""
    from forecasting import methods
    from forecasting.history import as_of as book_as_of
    from forecasting.loading import load_history
    from forecasting.periods import MONTH, period_of_date
    from forecasting.services import forecast_refresh_pipeline, learned_probabilities_refit
    from django.utils import timezone
    from pipeline.models import Deal, Stage
    from pipeline.services import deal_move

    label = label or {}
    rows = {}
    start = time.perf_counter()
    learned_probabilities_refit(pipeline_id=pipeline_id)
    refit_ms = (time.perf_counter() - start) * 1000

    def refresh():
        forecast_refresh_pipeline(pipeline_id=pipeline_id)

    def floor():
        floors_forecast.recompute_sums(pipeline_id=pipeline_id)

    times, queries = timed_counted(refresh, repeat)  # the first run also writes the snapshot
    rows["forecast recompute (full)"] = _row(
        times, timed(floor, repeat), queries, note=f"refit once before: {refit_ms:.0f} ms", **label
    )
    progress(f"forecast recompute (full): {statistics.median(times):,.0f} ms")

    deal = Deal.objects.filter(pipeline_id=pipeline_id, owner=rep, status="open", stage__position__lte=1).first()
    stages = list(Stage.objects.filter(pipeline_id=pipeline_id).order_by("position")[:2])
    after_times, after_queries = [], None
    for _ in range(repeat):
        current = Deal.objects.get(pk=deal.pk)
        target = stages[0] if current.stage_id == stages[1].pk else stages[1]
        deal_move(deal=current, to_stage=target, actor=rep, expected_version=current.version)
        times, queries = timed_counted(refresh, 1)
        after_times += times
        after_queries = queries if after_queries is None else after_queries
    rows["forecast recompute (after one move)"] = _row(after_times, timed(floor, repeat), after_queries, **label)
    progress(f"forecast recompute (after one move): {statistics.median(after_times):,.0f} ms")

    if montecarlo:
        as_of = timezone.localdate()
        history = load_history(pipeline_id=pipeline_id)
        model = methods.fit_learned(history, as_of)
        first = period_of_date(as_of, MONTH)

        def simulate():
            book = book_as_of(load_history(pipeline_id=pipeline_id), as_of)
            return methods.montecarlo(
                model, book, kind=MONTH, first_period=first, horizon=3, simulations=MONTECARLO_SIMULATIONS
            )

        open_deals = int(np.sum(book_as_of(history, as_of).status == 0))
        times, queries = timed_counted(simulate, repeat)
        rows[f"Monte Carlo, {MONTECARLO_SIMULATIONS:,} futures (load + simulate)"] = _row(
            times,
            timed(lambda: floors_forecast.montecarlo_load(pipeline_id=pipeline_id), repeat),
            queries,
            note=f"{open_deals:,} open deals simulated",
            **label,
        )
    progress("Monte Carlo done" if montecarlo else "forecast rows done")
    return rows
