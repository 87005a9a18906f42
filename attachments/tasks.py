"""Celery tasks of files: previews of new contents, and the purge of deleted files."""
from celery import shared_task

from config.locks import cache_lock

PREVIEW_SOFT_TIME_LIMIT = 60
PREVIEW_TIME_LIMIT = 90
PURGE_LOCK_TIMEOUT = 30 * 60


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=PREVIEW_SOFT_TIME_LIMIT, time_limit=PREVIEW_TIME_LIMIT)
def preview_make(content_id: int) -> str:
    """The preview of one stored content; safe to run twice (a made preview is left alone)."""
    from .services import content_preview_make

    with cache_lock(f"attachments:preview:{content_id}", timeout=PREVIEW_TIME_LIMIT) as acquired:
        if not acquired:
            return "locked"
        return content_preview_make(content_id=content_id)


@shared_task(ignore_result=True)
def attachments_purge() -> dict:
    """Hourly (config/schedules.py): deleted files whose grace period is over leave the storage."""
    from .services import attachments_purge as purge

    with cache_lock("attachments:purge", timeout=PURGE_LOCK_TIMEOUT) as acquired:
        if not acquired:
            return {"locked": True}
        return purge()
