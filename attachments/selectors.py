"""Reads that depend on the user. A file is visible with its record: whoever may see the deal,
organisation or person sees its files (pipeline.selectors); whoever may change the record may
add, rename and delete them. A deleted file is gone for everyone but the history."""
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from pipeline import selectors as pipeline_selectors

from .models import Attachment


def visible_attachments(user, *, deleted: bool = False) -> QuerySet[Attachment]:
    """Files on records the user may see (correlated EXISTS: the database checks each file's own
    record by primary key instead of listing every visible record first)."""
    deals = pipeline_selectors.visible_deals(user).filter(pk=OuterRef("deal_id"))
    organizations = pipeline_selectors.visible_organizations(user).filter(pk=OuterRef("organization_id"))
    persons = pipeline_selectors.visible_persons(user).filter(pk=OuterRef("person_id"))
    files = Attachment.objects.filter(
        Q(Exists(deals), deal__isnull=False)
        | Q(Exists(organizations), organization__isnull=False)
        | Q(Exists(persons), person__isnull=False)
    )
    return files if deleted else files.filter(deleted_at__isnull=True)


def record_attachments(*, deal=None, organization=None, person=None) -> list[Attachment]:
    """The files on one record the caller has checked the user may see: one query."""
    subject = {"deal": deal} if deal is not None else {"organization": organization} if organization is not None else {"person": person}
    return list(
        Attachment.objects.filter(deleted_at__isnull=True, **subject).select_related("content", "uploaded_by").order_by("-uploaded_at", "-pk")
    )


def can_change_attachment(user, attachment: Attachment) -> bool:
    if attachment.deal_id:
        return pipeline_selectors.can_change_deal(user, attachment.deal)
    if attachment.organization_id:
        return pipeline_selectors.can_change_organization(user, attachment.organization)
    return pipeline_selectors.can_change_person(user, attachment.person)


def attachment_for_user_or_404(user, pk, *, change: bool = False) -> Attachment:
    """The file if the user may see its record (else Http404); with `change=True` also if they may
    change the record (else PermissionDenied): the same answers as for the record itself."""
    attachment = (
        visible_attachments(user).select_related("content", "deal", "organization", "person", "uploaded_by").filter(pk=pk).first()
        if str(pk).isdigit() else None
    )
    if attachment is None:
        raise Http404(_("No such file, or it is not yours to see."))
    if change and not can_change_attachment(user, attachment):
        raise PermissionDenied(_("You may look at this file but not change it."))
    return attachment


def subject_for_user_or_404(user, *, deal_pk=None, organization_pk=None, person_pk=None, change: bool = False) -> dict:
    """{"deal"|"organization"|"person": the record} if the user may see it (and change it)."""
    if deal_pk is not None:
        return {"deal": pipeline_selectors.deal_for_user_or_404(user, deal_pk, change=change)}
    if organization_pk is not None:
        return {"organization": pipeline_selectors.organization_for_user_or_404(user, organization_pk, change=change)}
    return {"person": pipeline_selectors.person_for_user_or_404(user, person_pk, change=change)}
