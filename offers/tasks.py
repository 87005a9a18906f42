"""Celery tasks of offers. Thin: ids in, a service or mail call, safe to run twice."""
import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from pipeline.selectors import deal_addressee

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def offer_link_email(version_id: int, url: str) -> bool:
    """E-mail the customer's link to the deal's contact, in the offer's language."""
    from .models import OfferVersion

    version = OfferVersion.objects.select_related("offer__deal__organization", "offer__deal__owner").filter(pk=version_id).first()
    addressee = deal_addressee(version.offer.deal) if version else None
    if addressee is None or not addressee.email:
        return False
    with translation.override(version.language):
        context = {
            "version": version, "url": url, "company_name": settings.STAGEFLOW.get("COMPANY_NAME", ""),
            "addressee": addressee,
        }
        subject = render_to_string("offers/email/link_subject.txt", context).strip()
        body = render_to_string("offers/email/link_body.txt", context)
    owner = version.offer.deal.owner
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [addressee.email],
              fail_silently=False)
    logger.info("Offer link for %s sent to the contact of deal %s (owner %s)", version, version.offer.deal_id, owner.pk)
    return True


@shared_task(acks_late=True)
def offer_accepted_copy_email(version_id: int) -> bool:
    """Send the signer a copy of the accepted offer as a PDF, in the offer's language."""
    from django.core.mail import EmailMessage

    from .documents import proposal_load
    from .models import OfferVersion
    from .pdf import proposal_pdf

    version = OfferVersion.objects.select_related("offer__deal__organization", "response").filter(pk=version_id).first()
    addressee = deal_addressee(version.offer.deal) if version else None
    address = addressee.email if addressee else ""
    if version is None or not address or getattr(version, "response", None) is None:
        return False
    proposal = proposal_load(version)
    with translation.override(version.language):
        context = {"version": version, "response": version.response, "company_name": proposal.company_name}
        subject = render_to_string("offers/email/accepted_subject.txt", context).strip()
        body = render_to_string("offers/email/accepted_body.txt", context)
        pdf = proposal_pdf(proposal)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach(f"{version.offer.number}-v{version.number}.pdf", pdf, "application/pdf")
    message.send(fail_silently=False)
    return True


@shared_task(acks_late=True)
def notification_email(notification_id: int) -> bool:
    """E-mail a notification to its recipient, once."""
    from .models import Notification

    note = Notification.objects.select_related("recipient", "version__offer__deal").filter(pk=notification_id).first()
    if note is None or not note.recipient.email:
        return False
    with translation.override(settings.LANGUAGE_CODE):
        context = {"note": note}
        subject = render_to_string("offers/email/notification_subject.txt", context).strip()
        body = render_to_string("offers/email/notification_body.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [note.recipient.email], fail_silently=False)
    return True


@shared_task(acks_late=True)
def offers_expire() -> int:
    """Periodic: mark sent offers whose link ran out as expired."""
    from .services import offers_expire as expire

    return expire()
