"""Offers follow their deals: a deal marked lost withdraws its open links, so a customer cannot
accept an offer for a deal the rep has given up (the rep reopens the deal and sends again).
Run from the outbox after the loss committed. The offers' own e-mails are sent from here too."""
from pipeline.signals import deals_changed

from . import tasks
from .events import EmailKind, offer_emails
from .models import OfferVersion, VersionStatus


@deals_changed.handler("offers.withdraw_links_of_lost_deals", wants=lambda payload: payload["kind"] == "lost")
def withdraw_links_of_lost_deals(*, deal_ids, **payload):
    from .services import offer_withdraw

    for version in OfferVersion.objects.filter(offer__deal_id__in=deal_ids, status=VersionStatus.SENT).order_by("pk"):
        offer_withdraw(version=version, actor=None)


# --- E-mails (offers.events) ---------------------------------------------------------------------
# The handlers send through the task functions, run here in the outbox's worker; a failed send is
# retried with the outbox's backoff. Handler names are stored in the messages: keep them stable.


@offer_emails.handler("offers.link_email", wants=lambda payload: payload["kind"] == EmailKind.LINK, forget=("url",))
def link_email(*, version_id, url, **payload):
    tasks.offer_link_email(version_id, url)


@offer_emails.handler("offers.accepted_copy_email", wants=lambda payload: payload["kind"] == EmailKind.ACCEPTED_COPY)
def accepted_copy_email(*, version_id, **payload):
    tasks.offer_accepted_copy_email(version_id)


@offer_emails.handler("offers.notification_email", wants=lambda payload: payload["kind"] == EmailKind.NOTIFICATION)
def notification_email(*, notification_id, **payload):
    tasks.notification_email(notification_id)
