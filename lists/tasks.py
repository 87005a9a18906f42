"""The worker's part of bulk changes."""
from celery import shared_task

from config.locks import CacheLock

BULK_LOCK_LEASE = 15 * 60


@shared_task(acks_late=True, ignore_result=True)
def bulk_change_task(change_id: int) -> str:
    """Run a queued bulk change; safe twice (lists.bulk.bulk_change_run skips what is done), never
    twice at once (a lock)."""
    from .bulk import bulk_change_run
    from .models import BulkChange

    lock = CacheLock(f"lists:bulk:{change_id}", timeout=BULK_LOCK_LEASE)
    if not lock.acquire():
        return "locked"
    try:
        change = BulkChange.objects.select_related("actor").filter(pk=change_id).first()
        if change is None:
            return "gone"
        return bulk_change_run(change).status
    finally:
        lock.release()
