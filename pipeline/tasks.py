"""Celery tasks of the pipeline. Thin: a service or selector call, idempotent, never overlapping."""
import logging

from celery import shared_task

from config.locks import CacheLock

logger = logging.getLogger(__name__)

# Long enough for a recount of every open deal at a million deals; a killed worker's lock is
# gone after it.
TOTALS_CHECK_LOCK_SECONDS = 600


@shared_task(acks_late=True)
def open_stage_totals_check() -> int:
    """Compare the board's maintained open-deal totals (OpenStageTotal) with a full recount;
    report every difference as an error and count the totals again. Returns the number of
    differences (0 while the triggers do their job, which is what this task watches)."""
    from . import selectors, services

    lock = CacheLock("pipeline:open-stage-totals-check", timeout=TOTALS_CHECK_LOCK_SECONDS)
    if not lock.acquire():
        return 0
    try:
        drift = selectors.open_stage_totals_drift()
        if drift:
            logger.error(
                "The board's open-deal totals differ from a recount in %s cells (first: %s); counting them again.",
                len(drift), drift[0],
            )
            services.open_stage_totals_rebuild()
        return len(drift)
    finally:
        lock.release()
