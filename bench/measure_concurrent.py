"""A move through the HTMX endpoint while the forecast recomputes, as in laptop mode, where the
recompute runs in a thread of the web process a few seconds after a burst of moves.

On SQLite a transaction takes the database's only write lock when it begins (transaction_mode
IMMEDIATE). The recompute computes from reads and then writes in one short transaction
(forecasting.services.forecast_refresh_pipeline); when it computed inside its transaction, a move
arriving meanwhile waited for the whole computation. The floor is the same move with nothing else
running, timed alternately with it; the ratio is what the recompute still costs a move (on a
2-core machine the two share the processor).
"""
import statistics
import threading
import time

from django.db import connections
from django.test import Client

from bench.timing import summary
from pipeline.models import Deal

# The move starts this long after the recompute, which is well under way by then.
HEAD_START_S = 0.03


def move_during_recompute(*, rep, pipeline_id: int, repeat: int) -> dict:
    from forecasting.services import forecast_refresh_pipeline

    deal = Deal.objects.filter(owner=rep, stage__position=0, status="open").select_related("pipeline").first()
    stages = list(deal.pipeline.stages.order_by("position")[:2])
    client = Client()
    client.force_login(rep)
    state = {"i": 0, "version": deal.version}

    def move() -> float:
        target = stages[(state["i"] + 1) % 2]
        start = time.perf_counter()
        response = client.post(
            f"/pipeline/deals/{deal.pk}/move/", f"stage={target.pk}&version={state['version']}",
            content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true",
        )
        took = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, response.status_code
        state["i"] += 1
        state["version"] += 1
        return took

    def recompute():
        try:
            forecast_refresh_pipeline(pipeline_id=pipeline_id)
        finally:
            connections.close_all()  # this thread's connection

    move()  # warm
    during, alone, recomputes = [], [], []
    for _ in range(repeat):
        thread = threading.Thread(target=lambda: recomputes.append(_timed(recompute)))
        thread.start()
        time.sleep(HEAD_START_S)
        during.append(move())
        thread.join()
        alone.append(move())
    return {
        **summary(during),
        "queries": None,
        "bytes": None,
        "floor_ms": statistics.median(alone),
        "note": f"the recompute beside it took {statistics.median(recomputes):,.0f} ms (median)",
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000
