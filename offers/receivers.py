"""Offers follow their deals: a deal marked lost withdraws its open links, so a customer cannot
accept an offer for a deal the rep has given up (the rep reopens the deal and sends again).
Run from the outbox after the loss committed."""
from pipeline.signals import deals_changed

from .models import OfferVersion, VersionStatus


@deals_changed.handler("offers.withdraw_links_of_lost_deals", wants=lambda payload: payload["kind"] == "lost")
def withdraw_links_of_lost_deals(*, deal_ids, **payload):
    from .services import offer_withdraw

    for version in OfferVersion.objects.filter(offer__deal_id__in=deal_ids, status=VersionStatus.SENT).order_by("pk"):
        offer_withdraw(version=version, actor=None)
