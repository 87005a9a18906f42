"""The files panel of the deal, organisation and person pages, and a file's download, preview,
rename and delete.

Every view finds the record or file through attachments.selectors: a file on a record the user
may not see answers 404, one they may see but not change 403 for a change, exactly as the record.
An HTMX request (the panel's own script sends uploads that way, with progress) gets the panel
back; without JavaScript the forms post and redirect to the record's page.
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from pipeline import selectors as pipeline_selectors
from pipeline.exceptions import PipelineError

from . import content, selectors, services, uploads
from .models import PreviewStatus

PANEL = "attachments/_panel.html"
URL_NAMES = {"deal": "attachments:deal", "organization": "attachments:organization", "person": "attachments:person"}


def _is_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def panel_context(request, subject: dict, can_change: bool, *, notices=(), errors=()) -> dict:
    (kind, record), = subject.items()
    limit = services.limits()
    return {
        "record": record,
        "kind": kind,
        "can_change": can_change,
        "files": selectors.record_attachments(**subject),
        "upload_url": reverse(URL_NAMES[kind], args=[record.pk]),
        "limits": limit,
        "notices": notices,
        "errors": errors,
        "erased": kind == "person" and record.erased_at is not None,
    }


def _panel(request, subject: dict, *, notices=(), errors=(), status=200):
    if _is_partial(request):
        return render(request, PANEL, panel_context(request, subject, True, notices=notices, errors=errors), status=status)
    (kind, record), = subject.items()
    for text in errors:
        messages.error(request, text)
    for level, text in notices:
        messages.add_message(request, level, text)
    return redirect(record.get_absolute_url() + "#files")


def _refused(request, subject: dict, message: str, status: int):
    return _panel(request, subject, errors=[message], status=status)


@csrf_exempt  # checked below, once the upload handlers are in place (Django's documented order)
@require_http_methods(["GET", "POST"])
def record_files(request, deal_pk=None, organization_pk=None, person_pk=None):
    """GET/POST /files/deals/<id>/, /files/organizations/<id>/, /files/people/<id>/ — the record's
    files panel; POST uploads one or more files (field `files`)."""
    if request.method == "GET":
        subject = selectors.subject_for_user_or_404(request.user, deal_pk=deal_pk, organization_pk=organization_pk, person_pk=person_pk)
        (kind, record), = subject.items()
        if not _is_partial(request):
            return redirect(record.get_absolute_url() + "#files")
        can_change = {
            "deal": pipeline_selectors.can_change_deal, "organization": pipeline_selectors.can_change_organization,
            "person": pipeline_selectors.can_change_person,
        }[kind](request.user, record)
        return render(request, PANEL, panel_context(request, subject, can_change))
    # Who may upload is known before the body is read; so is an announced size that is too large.
    subject = selectors.subject_for_user_or_404(
        request.user, deal_pk=deal_pk, organization_pk=organization_pk, person_pk=person_pk, change=True
    )
    refusal = uploads.refuse_by_length(request)
    if refusal:
        return _refused(request, subject, refusal, 413)
    request.upload_handlers.insert(0, uploads.LimitedUploadHandler(request))
    return _upload(request, subject)


@csrf_protect
def _upload(request, subject: dict):
    files = request.FILES.getlist("files")
    refusal = getattr(request, "upload_refusal", "")
    if refusal:
        return _refused(request, subject, refusal, 413)
    try:
        added = services.attachments_add(files=files, actor=request.user, **subject)
    except PipelineError as error:
        status = 413 if error.code in ("file_too_large", "upload_too_large", "too_many_files") else 400
        if error.code == "scanner_unavailable":
            status = 503
        return _refused(request, subject, error.message, status)
    quarantined = [a for a in added if a.content.is_quarantined]
    clean = len(added) - len(quarantined)
    notices = []
    if clean:
        notices.append((messages.SUCCESS, ngettext("%(count)s file added.", "%(count)s files added.", clean) % {"count": clean}))
    for attachment in quarantined:
        notices.append((messages.WARNING, _(
            "“%(name)s” contains a virus (%(signature)s) and was put in quarantine: nobody can download it. "
            "Delete it, or ask an admin to look at it."
        ) % {"name": attachment.name, "signature": attachment.content.scan_signature}))
    return _panel(request, subject, notices=notices)


def file_response(attachment, *, inline: bool, preview: bool = False):
    stored = attachment.content
    if stored is None:
        raise Http404(_("This file was deleted."))
    if stored.is_quarantined:
        raise PermissionDenied(_("This file is in quarantine: a virus was found in it. It cannot be downloaded."))
    storage = content.storage()
    if preview:
        if stored.preview_status != PreviewStatus.READY:
            raise Http404(_("This file has no preview (yet)."))
        response = FileResponse(storage.open(stored.preview_name, "rb"), content_type="image/png")
        response["Content-Disposition"] = "inline"
    else:
        inline = inline and content.can_show_inline(stored.mime_type)
        response = FileResponse(
            storage.open(stored.storage_name, "rb"), as_attachment=not inline, filename=attachment.name,
            content_type=stored.mime_type,
        )
    response["Content-Length"] = str(stored.size) if not preview else response.get("Content-Length", "")
    response["X-Content-Type-Options"] = "nosniff"
    # Whatever a file holds, it runs nothing in Stageflow's origin, even if opened directly.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    if not response["Content-Length"]:
        del response["Content-Length"]
    return response


@require_safe
def download(request, pk):
    """GET /files/<id>/download/ — the file as an attachment; `?inline=1` shows it in the browser,
    for the types that run nothing there (images, PDF, plain text)."""
    attachment = selectors.attachment_for_user_or_404(request.user, pk)
    return file_response(attachment, inline=request.GET.get("inline") == "1")


@require_safe
def preview(request, pk):
    """GET /files/<id>/preview/ — the small PNG the worker made of an image or a PDF's first page."""
    attachment = selectors.attachment_for_user_or_404(request.user, pk)
    return file_response(attachment, inline=True, preview=True)


@require_POST
def rename(request, pk):
    """POST /files/<id>/rename/ with `name`."""
    attachment = selectors.attachment_for_user_or_404(request.user, pk, change=True)
    subject = {attachment_kind(attachment): attachment.subject}
    try:
        services.attachment_rename(attachment=attachment, name=request.POST.get("name", ""), actor=request.user)
    except PipelineError as error:
        return _refused(request, subject, error.message, 400)
    return _panel(request, subject, notices=[(messages.SUCCESS, _("File renamed."))])


@require_POST
def delete(request, pk):
    """POST /files/<id>/delete/ — gone from the record now, from the storage after the grace period."""
    attachment = selectors.attachment_for_user_or_404(request.user, pk, change=True)
    subject = {attachment_kind(attachment): attachment.subject}
    services.attachment_delete(attachment=attachment, actor=request.user)
    return _panel(request, subject, notices=[(messages.SUCCESS, _("“%(name)s” deleted.") % {"name": attachment.name})])


def attachment_kind(attachment) -> str:
    return "deal" if attachment.deal_id else "organization" if attachment.organization_id else "person"
