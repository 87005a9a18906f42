"""The worker's mail jobs: every mailbox synced on the beat schedule (config/schedules.py)."""
from celery import shared_task

from . import services
from .models import Mailbox


@shared_task(ignore_result=True, time_limit=30 * 60, soft_time_limit=29 * 60)
def mail_sync(mailbox_id: int) -> None:
    """One mailbox; safe to run twice (incremental, and a lock keeps two runs apart)."""
    services.mailbox_sync_run(mailbox_id)


@shared_task(ignore_result=True, time_limit=60)
def mail_sync_all() -> None:
    for mailbox_id in Mailbox.objects.filter(is_active=True).values_list("pk", flat=True):
        mail_sync.delay(mailbox_id)
