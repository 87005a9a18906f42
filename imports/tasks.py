"""Celery tasks of imports: a large file is imported by a worker, with its progress in the cache."""
import logging

from celery import shared_task
from django.core.cache import cache

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = 60 * 60


@shared_task(acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60)
def import_run(job_id: int) -> str:
    """Run a queued import. Safe to run twice: a finished job is left alone, and a job whose
    worker died mid-way wrote nothing (one transaction), so it simply runs again."""
    from .models import ImportJob, ImportStatus
    from .services import import_commit

    lock = f"lock:imports:{job_id}"
    if not cache.add(lock, 1, timeout=LOCK_TIMEOUT):
        return "locked"
    try:
        job = ImportJob.objects.select_related("created_by", "pipeline").filter(pk=job_id).first()
        if job is None or job.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return "skipped"
        import_commit(job)
        return job.status
    finally:
        cache.delete(lock)


@shared_task
def imports_prune() -> int:
    """Daily: forget uploads nobody imported (config/schedules.py)."""
    from .services import imports_prune as prune

    return prune()
