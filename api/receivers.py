"""Outgoing webhooks follow the pipeline's deal events and the address book's (run from the
outbox, after the commit)."""
from django.db import transaction

from pipeline.signals import deals_changed, directory_changed

from .models import WebhookEndpoint, WebhookEvent


@deals_changed.handler("api.webhook_deliveries", wants=lambda payload: payload["kind"] in WebhookEvent.values)
def webhook_deliveries_record(*, deal_ids, kind, occurred_at=None, **payload):
    """Record the deliveries in the outbox message's transaction (exactly once), send them after it."""
    from .tasks import webhook_deliveries_enqueue
    from .webhooks import deliveries_create

    deliveries = deliveries_create(event=kind, deal_ids=deal_ids, occurred_at=occurred_at)
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: webhook_deliveries_enqueue(ids), robust=True)


def directory_webhooks_wanted(payload) -> bool:
    """Whether an active endpoint subscribes to this person or organisation event. Asked when the
    change is published (one indexed query), so that the many edits of people and organisations
    write no outbox message at all where nobody receives them (most installations)."""
    model, kind = payload.get("model"), payload.get("kind")
    if model not in ("person", "organization") or kind not in ("created", "changed", "merged"):
        return False
    return WebhookEndpoint.objects.filter(is_active=True, **{f"on_{model}_{kind}": True}).exists()


@directory_changed.handler("api.webhook_directory_deliveries", wants=directory_webhooks_wanted)
def webhook_directory_deliveries_record(*, model, kind, ids, merged_ids=(), occurred_at=None, **payload):
    """Person and organisation created, changed and merged: recorded as the deal events are."""
    from .tasks import webhook_deliveries_enqueue
    from .webhooks import directory_deliveries_create

    deliveries = directory_deliveries_create(model=model, kind=kind, ids=ids, merged_ids=merged_ids, occurred_at=occurred_at)
    if deliveries:
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: webhook_deliveries_enqueue(ids), robust=True)
