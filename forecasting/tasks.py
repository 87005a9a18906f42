"""Celery tasks of forecasting. Thin: ids in, a service call, idempotent, never overlapping.

How a move reaches the forecast:

1. `deal_move` records `pipeline.signals.deals_changed` in its transaction (the outbox); after
   the commit `forecasting.receivers` runs from there and calls `forecast_refresh_schedule`.
2. `forecast_refresh_schedule` debounces (config.locks.Debounce): the first change of a pipeline
   marks a refresh pending and enqueues one `forecast_refresh` a few seconds later; further
   changes while it is pending enqueue nothing. A burst of moves leads to one recompute. In
   laptop mode (no worker) the recompute runs in the background thread of config.background,
   after the same delay: the request that moved the deal does not wait for it.
3. `forecast_refresh` takes the pipeline's lock (two recomputes of the same forecast never run
   at once), clears the pending mark (changes from now on ask for a new run), recomputes and
   writes the result in one transaction (the computation itself runs before it, holding no
   database lock; see services.forecast_refresh_pipeline): a worker killed half-way leaves the
   previous result untouched. The
   lock is a short lease renewed while the recompute runs, up to its time limit, so a killed
   worker's lock is gone within seconds; the broker hands the unacknowledged task to a worker
   again (acks_late, reject_on_worker_lost and the visibility timeout in config/settings.py).

When the broker or the cache is unreachable the move still succeeds: the failure is logged and
`forecast_refresh_all`, run by beat (config/schedules.py), recomputes every pipeline later.
"""
import logging
import time

import redis.exceptions
from celery import current_app, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError

from config import background
from config.locks import CacheLock, Debounce

logger = logging.getLogger(__name__)

# Errors that go away on their own (a restarting database, Redis or broker): retried with
# exponential backoff. Anything else is a bug and fails loudly.
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    BrokerOperationalError,
)
REFRESH_SOFT_TIME_LIMIT = 120
REFRESH_TIME_LIMIT = 150
# The refresh lock's lease, renewed while the recompute runs (up to REFRESH_TIME_LIMIT): a
# worker killed mid-recompute blocks the next one for at most this many seconds.
REFRESH_LOCK_LEASE = 15
# Eager mode (no broker): how long a recompute waits for one running in another thread.
EAGER_LOCK_WAIT = 10
MAX_RETRIES = 6
RETRY_BACKOFF_MAX = 300


def refresh_lock(pipeline_id: int) -> CacheLock:
    return CacheLock(f"forecast:refresh:{pipeline_id}", timeout=REFRESH_LOCK_LEASE)


def debounce_seconds() -> int:
    return settings.FORECAST_REFRESH_DEBOUNCE_SECONDS


def refresh_pending(pipeline_id: int) -> Debounce:
    # Set from a change until its recompute starts: the countdown, plus a margin for a busy queue.
    return Debounce(f"forecast:refresh:{pipeline_id}", window=debounce_seconds() + 60)


def debounce_key(pipeline_id: int) -> str:
    """The cache key that is set while a recompute of the pipeline is pending."""
    return refresh_pending(pipeline_id).key


def forecast_refresh_schedule(*, pipeline_id: int) -> bool:
    """Ask for a recompute of the pipeline's forecast (called after commit).

    Returns True when a recompute was scheduled, False when one is already pending or the broker
    is unreachable. Never raises: a move must not fail because the forecast cannot be scheduled.
    """
    pending = refresh_pending(pipeline_id)
    try:
        if not pending.claim():
            return False  # a recompute is already pending; it will see this change too
        delay = debounce_seconds()
        try:
            if current_app.conf.task_always_eager:
                background.submit(_forecast_refresh_later, pipeline_id, delay)
            else:
                forecast_refresh.apply_async((pipeline_id,), countdown=delay)
        except Exception:
            pending.clear()  # let the next change try again
            raise
        return True
    except Exception:  # broker or cache down: the next scheduled run recomputes
        logger.warning(
            "Could not schedule the forecast refresh of pipeline %s; the periodic run will recompute it.",
            pipeline_id,
            exc_info=True,
        )
        return False


def _forecast_refresh_later(pipeline_id: int, delay: float) -> None:
    """Laptop mode, in the background thread: the worker's countdown, then the task in-process."""
    time.sleep(delay)
    forecast_refresh.apply((pipeline_id,), throw=True)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=REFRESH_SOFT_TIME_LIMIT,
    time_limit=REFRESH_TIME_LIMIT,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def forecast_refresh(self, pipeline_id: int) -> dict:
    """Recompute one pipeline's forecast, all or nothing, never two at once.

    Returns {"state": "done", "forecast": <the service's result>} or {"state": "busy"}."""
    from .services import forecast_refresh_pipeline

    lock = refresh_lock(pipeline_id)
    acquired = lock.acquire()
    if not acquired and self.request.is_eager:
        deadline = time.monotonic() + EAGER_LOCK_WAIT
        while not acquired and time.monotonic() < deadline:
            time.sleep(0.05)
            acquired = lock.acquire()
    if not acquired:
        # Another worker is recomputing; it may have started before our change committed, so
        # ask for one more run after it instead of dropping this one.
        # This run was the pending one its marker promised; hand the promise on to the next.
        logger.info("Forecast refresh of pipeline %s is already running; rescheduled.", pipeline_id)
        refresh_pending(pipeline_id).clear()
        forecast_refresh_schedule(pipeline_id=pipeline_id)
        return {"state": "busy"}
    try:
        refresh_pending(pipeline_id).clear()
        with lock.kept(at_most=REFRESH_TIME_LIMIT):
            forecast = forecast_refresh_pipeline(pipeline_id=pipeline_id)
    finally:
        lock.release()
    if not self.request.is_eager:
        # With a worker, the dashboard's accuracy for the new data is computed here rather than
        # by the next person who opens it.
        try:
            forecast_accuracy_warm.delay(pipeline_id)
        except Exception:
            logger.warning("Could not schedule the accuracy of pipeline %s.", pipeline_id, exc_info=True)
    return {"state": "done", "forecast": forecast}


# Loading a big pipeline's history and rebuilding each scope's past forecasts takes minutes at a
# million deals; one run per pipeline at a time (a change meanwhile is left to the next view).
ACCURACY_WARM_SOFT_TIME_LIMIT = 600
ACCURACY_WARM_TIME_LIMIT = 660


@shared_task(acks_late=True, soft_time_limit=ACCURACY_WARM_SOFT_TIME_LIMIT, time_limit=ACCURACY_WARM_TIME_LIMIT)
def forecast_accuracy_warm(pipeline_id: int) -> int:
    """Compute the dashboard's accuracy of the scopes looked at lately for the current data."""
    from .selectors import accuracy_warm

    lock = accuracy_warm_lock(pipeline_id)
    if not lock.acquire():
        return 0
    try:
        return accuracy_warm(pipeline_id)
    finally:
        lock.release()


def accuracy_warm_lock(pipeline_id: int) -> CacheLock:
    return CacheLock(f"forecast:accuracy-warm:{pipeline_id}", timeout=ACCURACY_WARM_TIME_LIMIT)


@shared_task(acks_late=True, autoretry_for=TRANSIENT_ERRORS, retry_backoff=2, max_retries=MAX_RETRIES)
def forecast_refresh_all() -> int:
    """The periodic safety net: recompute every active pipeline (missed or failed refreshes)."""
    from pipeline.models import Pipeline

    pipeline_ids = list(Pipeline.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))
    for pipeline_id in pipeline_ids:
        forecast_refresh.delay(pipeline_id)
    return len(pipeline_ids)


# --- Scheduled forecasting tasks (see config/schedules.py) ------------------------------------


@shared_task(acks_late=True)
def forecast_snapshot_daily() -> int:
    """Snapshot every active pipeline's forecast for today; returns the rows written."""
    from pipeline.models import Pipeline

    from .services import forecast_refresh_pipeline

    written = 0
    for pipeline_id in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True):
        written += forecast_refresh_pipeline(pipeline_id=pipeline_id)["written"]
        forecast_accuracy_warm.delay(pipeline_id)  # a new day: the dashboard's accuracy too
    return written


@shared_task(acks_late=True)
def learned_probabilities_refit_all() -> int:
    """Refit the learned stage probabilities of every active pipeline; returns the rows written."""
    from pipeline.models import Pipeline

    from .services import learned_probabilities_refit

    return sum(
        len(learned_probabilities_refit(pipeline_id=pipeline_id))
        for pipeline_id in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True)
    )
