"""Outgoing webhooks follow the pipeline's deal events (run from the outbox, after the commit)."""
from django.db import transaction

from pipeline.signals import deals_changed

from .models import WebhookEvent


@deals_changed.handler("api.webhook_deliveries", wants=lambda payload: payload["kind"] in WebhookEvent.values)
def webhook_deliveries_record(*, deal_ids, kind, occurred_at=None, **payload):
    """Record the deliveries in the outbox message's transaction (exactly once), send them after it."""
    from .tasks import webhook_deliveries_enqueue
    from .webhooks import deliveries_create

    deliveries = deliveries_create(event=kind, deal_ids=deal_ids, occurred_at=occurred_at)
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: webhook_deliveries_enqueue(ids), robust=True)
