"""Outgoing webhooks listen to the pipeline's deal events (sent after commit)."""
import logging

from django.dispatch import receiver

from pipeline.signals import deals_changed

logger = logging.getLogger(__name__)


@receiver(deals_changed, dispatch_uid="api.webhooks.deals_changed")
def webhooks_schedule(sender, pipeline_ids, deal_ids, kind, **kwargs):
    from .tasks import webhook_deliveries_enqueue
    from .webhooks import deliveries_create

    try:
        deliveries = deliveries_create(event=kind, deal_ids=deal_ids)
    except Exception:  # never let a webhook problem break the deal change that already committed
        logger.exception("Could not record webhook deliveries for %s %s", kind, sorted(deal_ids))
        return
    webhook_deliveries_enqueue([d.pk for d in deliveries])
