"""Reactions to pipeline events (run from the outbox, after the change committed)."""
from pipeline.models import Deal, DealStatus
from pipeline.signals import deals_changed

from . import services


@deals_changed.handler("activities.onboarding_on_won", wants=lambda payload: payload["kind"] in ("won", "created"))
def onboarding_on_won(*, deal_ids, **payload):
    """A deal that was won (moved into a won stage, or created directly in one) gets its
    pipeline's onboarding checklist. The service is idempotent, so a repeated event is harmless."""
    for deal in Deal.objects.filter(pk__in=deal_ids, status=DealStatus.WON):
        services.onboarding_checklist_ensure(deal=deal)


@deals_changed.handler("activities.cancel_on_lost", wants=lambda payload: payload["kind"] == "lost")
def cancel_on_lost(*, deal_ids, **payload):
    """A lost deal's open activities leave "My activities" (cancelled, not done)."""
    services.activities_cancel_of_lost_deals(deal_ids=deal_ids)


@deals_changed.handler("activities.restore_on_reopened", wants=lambda payload: payload["kind"] == "reopened")
def restore_on_reopened(*, deal_ids, **payload):
    """A reopened deal gets back the activities its loss cancelled."""
    services.activities_restore_of_reopened_deals(deal_ids=deal_ids)
