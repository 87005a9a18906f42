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
