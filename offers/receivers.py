"""Offers follow their deals: a deal marked lost withdraws its open links, so a customer cannot
accept an offer for a deal the rep has given up (the rep reopens the deal and sends again)."""
from django.dispatch import receiver

from pipeline.signals import deals_changed

from .models import OfferVersion, VersionStatus


@receiver(deals_changed, dispatch_uid="offers_withdraw_links_of_lost_deals")
def withdraw_links_of_lost_deals(sender, *, deal_ids=None, kind="", **kwargs):
    if kind != "lost" or not deal_ids:
        return
    from .services import offer_withdraw

    for version in OfferVersion.objects.filter(offer__deal_id__in=deal_ids, status=VersionStatus.SENT).order_by("pk"):
        offer_withdraw(version=version, actor=None)
