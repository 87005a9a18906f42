"""Webhook delivery by Celery: ids in, one attempt per run, retried with exponential backoff."""
import logging

from celery import shared_task

from .models import DeliveryStatus

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver(self, delivery_id: int, after_attempts: int | None = None) -> str:
    from .webhooks import delivery_attempt, retry_delay

    # A retry waits longer than the broker's visibility timeout and may be handed out twice
    # (config/settings.py); it carries the attempts it follows, so only one copy sends.
    delivery = delivery_attempt(delivery_id, after_attempts=after_attempts)
    if delivery is None:
        return "skipped"
    if delivery.status == DeliveryStatus.PENDING:  # failed, attempts left
        if self.request.is_eager:
            # Laptop mode runs tasks inside the web request: no sleeping there. The delivery stays
            # pending in the log, and an admin can send it again from there.
            return "pending"
        raise self.retry(args=(delivery_id, delivery.attempts), countdown=retry_delay(delivery.attempts))
    return delivery.status


def webhook_deliveries_enqueue(delivery_ids) -> None:
    for delivery_id in delivery_ids:
        try:
            webhook_deliver.delay(delivery_id)
        except Exception:  # broker down or an eager failure: the delivery stays pending in the log
            logger.warning("Could not enqueue webhook delivery %s", delivery_id, exc_info=True)
