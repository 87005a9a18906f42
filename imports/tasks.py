"""Celery tasks of imports: a large file is imported by a worker, with its progress in the cache."""
import logging

from celery import shared_task

from config.locks import CacheLock

logger = logging.getLogger(__name__)

IMPORT_SOFT_TIME_LIMIT = 30 * 60
IMPORT_TIME_LIMIT = 31 * 60
# Renewed while the import runs (up to its time limit): the job of a killed worker can run again
# after this long.
IMPORT_LOCK_LEASE = 60


def import_lock(job_id: int) -> CacheLock:
    return CacheLock(f"imports:{job_id}", timeout=IMPORT_LOCK_LEASE)


# No result: the job's row and the cache carry its progress, and a result the request would have to
# watch for costs it about 19 s of reconnecting to the result store while Redis is down, before
# it can say that the import could not start.
@shared_task(acks_late=True, ignore_result=True, soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT)
def import_run(job_id: int) -> str:
    """Run a queued import. Safe to run twice: a finished job is left alone, and a job whose
    worker died mid-way wrote nothing (one transaction), so it simply runs again."""
    from .models import ImportJob, ImportStatus
    from .services import import_commit

    lock = import_lock(job_id)
    if not lock.acquire():
        return "locked"
    try:
        job = ImportJob.objects.select_related("created_by", "pipeline").filter(pk=job_id).first()
        if job is None or job.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return "skipped"
        with lock.kept(at_most=IMPORT_TIME_LIMIT):
            import_commit(job)
        return job.status
    finally:
        lock.release()


@shared_task
def imports_prune() -> int:
    """Daily: forget uploads nobody imported (config/schedules.py)."""
    from .services import imports_prune as prune

    return prune()
