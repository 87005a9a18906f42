"""Reactions to pipeline events (sent after commit)."""
from django.dispatch import receiver

from pipeline.models import Deal, DealStatus
from pipeline.signals import deals_changed

from . import services


@receiver(deals_changed, dispatch_uid="activities.onboarding_on_won")
def onboarding_on_won(sender, *, deal_ids=(), kind="", **kwargs):
    """A deal that was won (moved into a won stage, or created directly in one) gets its
    pipeline's onboarding checklist. The service is idempotent, so a repeated event is harmless."""
    if kind not in ("won", "created"):
        return
    for deal in Deal.objects.filter(pk__in=deal_ids, status=DealStatus.WON):
        services.onboarding_checklist_ensure(deal=deal)
