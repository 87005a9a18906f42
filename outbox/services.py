"""Running the outbox's messages: each handler once, in its own transaction, retried on failure."""
from __future__ import annotations

import logging
import traceback
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import OutboxMessage
from .topics import handler_get

logger = logging.getLogger(__name__)

# The sweep takes this many due messages per run; the next run takes the rest.
SWEEP_BATCH_SIZE = 500
# Messages younger than this are left to the dispatch enqueued by their own commit.
SWEEP_GRACE_SECONDS = 30
ERROR_EXCERPT = 4000


def retry_delay(attempts: int) -> int:
    """Seconds before the next try after `attempts` failures: 30 s, 1 min, 2 min, … at most 1 h."""
    return min(30 * 2 ** (attempts - 1), 60 * 60)


def dispatch_now(message_ids: list[int]) -> None:
    """Laptop mode's worker: the dispatch task, run in this process (config.background's thread)."""
    from .tasks import outbox_dispatch

    outbox_dispatch.apply((message_ids,))


def dispatch_after_commit(message_ids: list[int]) -> None:
    """Hand freshly committed messages to the worker; in laptop mode (no broker) to this process's
    background thread, so that the request whose change they follow does not wait for them.
    Never raises: a message that cannot be handed over stays pending and the sweep picks it up."""
    from celery import current_app

    from config import background

    from .tasks import outbox_dispatch

    try:
        if current_app.conf.task_always_eager:
            background.submit(dispatch_now, message_ids)
            return
        outbox_dispatch.delay(message_ids)
    except Exception:
        logger.warning(
            "Could not dispatch outbox messages %s now; the periodic sweep will.", message_ids, exc_info=True
        )


def message_dispatch(message_id: int) -> bool | None:
    """Run one message's handler. True when done, False when it failed (and will be retried),
    None when there was nothing to do (already done, or being run by another worker)."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, dispatched_at__isnull=True)
            .first()
        )
        if message is None:
            return None
        message.attempts += 1
        handler = handler_get(message.handler)
        try:
            if handler is None:
                raise LookupError(f"No outbox handler is called {message.handler!r}.")
            # A savepoint: a failing handler's writes are undone, the message's bookkeeping stays.
            with transaction.atomic():
                handler.run(**message.payload)
        except Exception as exc:
            delay = retry_delay(message.attempts)
            logger.exception(
                "Outbox handler %s failed on message %s (attempt %s); it is tried again in %s s.",
                message.handler, message.pk, message.attempts, delay,
            )
            message.last_error = "".join(traceback.format_exception(exc))[-ERROR_EXCERPT:]
            message.available_at = timezone.now() + timedelta(seconds=delay)
            message.save(update_fields=["attempts", "last_error", "available_at"])
            return False
        message.dispatched_at = timezone.now()
        message.last_error = ""
        message.save(update_fields=["attempts", "last_error", "dispatched_at"])
        return True


def messages_dispatch(message_ids) -> dict[str, int]:
    outcome = {"done": 0, "failed": 0, "skipped": 0}
    for message_id in message_ids:
        result = message_dispatch(message_id)
        outcome["skipped" if result is None else "done" if result else "failed"] += 1
    return outcome


def messages_due(*, limit: int = SWEEP_BATCH_SIZE, grace_seconds: int = SWEEP_GRACE_SECONDS) -> list[int]:
    """Messages left behind: not done, due, and older than the grace period."""
    now = timezone.now()
    return list(
        OutboxMessage.objects.filter(
            dispatched_at__isnull=True, available_at__lte=now, created_at__lte=now - timedelta(seconds=grace_seconds)
        )
        .order_by("available_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
