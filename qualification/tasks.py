"""Celery tasks of qualification. Thin, idempotent, never overlapping."""
import logging

from celery import shared_task

from config.locks import CacheLock

logger = logging.getLogger(__name__)

RESCORE_SOFT_TIME_LIMIT = 30 * 60
RESCORE_TIME_LIMIT = 31 * 60
# Renewed while a rescore runs (up to its time limit): a killed worker blocks the next rescore
# for at most this long.
RESCORE_LOCK_LEASE = 60
RETRY_COUNTDOWN = 10


def rescore_lock() -> CacheLock:
    return CacheLock("qualification:rescore", timeout=RESCORE_LOCK_LEASE)


def organizations_fit_rescore_schedule() -> None:
    """Enqueue a rescore of all leads (called after commit). Never raises."""
    try:
        organizations_fit_rescore.delay()
    except Exception:  # broker down: the scores catch up with the next profile change or lead save
        logger.warning("Could not enqueue the rescoring of leads", exc_info=True)


@shared_task(
    bind=True, acks_late=True, soft_time_limit=RESCORE_SOFT_TIME_LIMIT, time_limit=RESCORE_TIME_LIMIT, max_retries=None
)
def organizations_fit_rescore(self) -> int:
    """Rescore all leads in batches. If a rescore is already running, run again after it, since
    it may have read the profile before the change that enqueued this one."""
    from .services import organizations_fit_rescore_all

    lock = rescore_lock()
    if not lock.acquire():
        if self.request.is_eager:
            return 0
        raise self.retry(countdown=RETRY_COUNTDOWN)
    try:
        with lock.kept(at_most=RESCORE_TIME_LIMIT):
            return organizations_fit_rescore_all()
    finally:
        lock.release()
