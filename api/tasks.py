"""Webhook delivery by Celery: ids in, one attempt per run, retried with exponential backoff."""
import logging

from celery import shared_task

from .models import DeliveryStatus

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    from .webhooks import delivery_attempt, retry_delay

    delivery = delivery_attempt(delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.status == DeliveryStatus.PENDING:  # failed, attempts left
        if self.request.is_eager:
            # Laptop mode runs tasks inside the web request: no sleeping there. The delivery stays
            # pending in the log, and an admin can send it again from there.
            return "pending"
        raise self.retry(countdown=retry_delay(delivery.attempts))
    return delivery.status


def webhook_deliveries_enqueue(delivery_ids) -> None:
    for delivery_id in delivery_ids:
        try:
            webhook_deliver.delay(delivery_id)
        except Exception:  # broker down or an eager failure: the delivery stays pending in the log
            logger.warning("Could not enqueue webhook delivery %s", delivery_id, exc_info=True)
