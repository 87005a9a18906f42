"""Celery tasks of qualification. Thin, idempotent, never overlapping."""
import logging

from celery import shared_task
from django.core.cache import cache

logger = logging.getLogger(__name__)

LOCK_KEY = "lock:qualification:rescore"
LOCK_TIMEOUT = 60 * 60
RETRY_COUNTDOWN = 10


def leads_fit_rescore_schedule() -> None:
    """Enqueue a rescore of all leads (called after commit). Never raises."""
    try:
        leads_fit_rescore.delay()
    except Exception:  # broker down: the scores catch up with the next profile change or lead save
        logger.warning("Could not enqueue the rescoring of leads", exc_info=True)


@shared_task(bind=True, acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60, max_retries=None)
def leads_fit_rescore(self) -> int:
    """Rescore all leads in batches. If a rescore is already running, run again after it, since
    it may have read the profile before the change that enqueued this one."""
    from .services import leads_fit_rescore_all

    if not cache.add(LOCK_KEY, 1, timeout=LOCK_TIMEOUT):
        if self.request.is_eager:
            return 0
        raise self.retry(countdown=RETRY_COUNTDOWN)
    try:
        return leads_fit_rescore_all()
    finally:
        cache.delete(LOCK_KEY)
