"""The outbox's Celery tasks: one run after each commit, and the periodic sweep (config/schedules.py)."""
from celery import shared_task

from . import services


# No results: nobody waits for them, and asking the result store to watch for one costs a request
# 19 s of reconnecting while Redis is down.
@shared_task(bind=True, acks_late=True, ignore_result=True)
def outbox_dispatch(self, message_ids: list[int]) -> dict[str, int]:
    outcome = services.messages_dispatch(message_ids)
    if self.request.is_eager:
        # Laptop mode has no beat: each change's dispatch also retries what failed before and is due.
        for key, count in services.messages_dispatch(services.messages_due()).items():
            outcome[key] += count
    return outcome


@shared_task(acks_late=True, ignore_result=True)
def outbox_sweep(grace_seconds: int = services.SWEEP_GRACE_SECONDS) -> dict[str, int]:
    """Dispatch what no after-commit run took care of: messages written while the broker or the
    worker was away, and failed ones whose retry is due."""
    return services.messages_dispatch(services.messages_due(grace_seconds=grace_seconds))
