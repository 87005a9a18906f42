"""Every write to files goes through these functions: adding (an upload, the API, later e-mail
attachments), renaming, deleting, making previews, and removing deleted files from storage.

Permissions are checked by the views and the API (with attachments.selectors); the services check
the rules of the data: one record per file, the size limits, the virus scan, erased people.
Each add, rename and delete writes its row in the audit trail (accounts.ConfigChange, about the
attachment) in the same transaction.
"""
import hashlib
import logging
import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record
from pipeline.exceptions import PipelineError
from pipeline.models import Deal, Organization, Person

from . import content, previews, scanning
from .models import Attachment, AttachmentSource, PreviewStatus, ScanStatus, StoredContent

logger = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
NAME_MAX_LENGTH = 200
PURGE_BATCH = 500


class FileRefused(PipelineError):
    """A refused upload, rename or delete; `message` is safe to show."""


@dataclass(frozen=True)
class Limits:
    file_bytes: int  # the largest single file
    upload_bytes: int  # all files of one upload together
    files: int  # files in one upload


def limits() -> Limits:
    conf = settings.STAGEFLOW
    return Limits(
        file_bytes=int(conf.get("FILES_MAX_BYTES", 25 * 1024 * 1024)),
        upload_bytes=int(conf.get("FILES_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)),
        files=int(conf.get("FILES_MAX_COUNT", 20)),
    )


def grace_period() -> timedelta:
    return timedelta(days=int(settings.STAGEFLOW.get("FILES_DELETE_GRACE_DAYS", 30)))


def file_too_large_message(name: str, size: int | None = None) -> str:
    limit = filesizeformat(limits().file_bytes)
    if size is None:
        return _("“%(name)s” is larger than %(limit)s, the most one file may be.") % {"name": name, "limit": limit}
    return _("“%(name)s” is %(size)s; one file may be at most %(limit)s.") % {
        "name": name, "size": filesizeformat(size), "limit": limit,
    }


def upload_too_large_message(size: int | None = None) -> str:
    limit = filesizeformat(limits().upload_bytes)
    if size is None:
        return _("These files are larger than %(limit)s together, the most one upload may be. Upload them in parts.") % {"limit": limit}
    return _("These files are %(size)s together; one upload may be at most %(limit)s. Upload them in parts.") % {
        "size": filesizeformat(size), "limit": limit,
    }


def too_many_files_message() -> str:
    return _("At most %(count)s files can be uploaded at once.") % {"count": limits().files}


def upload_check(sizes: list[tuple[str, int]]) -> None:
    """Refuse an upload of files of these (name, size) before anything of it is stored."""
    limit = limits()
    if not sizes:
        raise FileRefused(_("Choose one or more files to upload."), code="no_files")
    if len(sizes) > limit.files:
        raise FileRefused(too_many_files_message(), code="too_many_files")
    for name, size in sizes:
        if size > limit.file_bytes:
            raise FileRefused(file_too_large_message(name, size), code="file_too_large")
    total = sum(size for _name, size in sizes)
    if total > limit.upload_bytes:
        raise FileRefused(upload_too_large_message(total), code="upload_too_large")


def clean_name(name: str) -> str:
    """A file's name as shown and offered on download: its last path part, without control
    characters, at most NAME_MAX_LENGTH characters (the extension kept)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".").strip()
    if not name:
        raise FileRefused(_("A file needs a name."), code="invalid_name")
    if len(name) > NAME_MAX_LENGTH:
        stem, ext = os.path.splitext(name)
        ext = ext[:20]
        name = stem[: NAME_MAX_LENGTH - len(ext)] + ext
    return name


def _one_subject(deal, organization, person) -> dict:
    subjects = {"deal": deal, "organization": organization, "person": person}
    if sum(value is not None for value in subjects.values()) != 1:
        raise FileRefused(_("A file belongs to exactly one deal, organisation or person."), code="subject")
    if person is not None and person.erased_at is not None:
        raise FileRefused(_("This person's data was erased; nothing more is recorded about them."), code="erased")
    return subjects


def _digest(stream) -> tuple[str, int, bytes]:
    """SHA-256, size and the first bytes (for the type) of what the stream holds, read once."""
    sha, size, head = hashlib.sha256(), 0, b""
    stream.seek(0)
    while chunk := stream.read(READ_CHUNK):
        sha.update(chunk)
        size += len(chunk)
        if len(head) < content.SNIFF_BYTES:
            head += chunk[: content.SNIFF_BYTES - len(head)]
    stream.seek(0)
    return sha.hexdigest(), size, head


def _scan(stream) -> tuple[str, str, datetime | None]:
    """(scan status, signature found, when) of what the stream holds; not scanned when no scanner is set."""
    if not scanning.scanning_enabled():
        return ScanStatus.NOT_SCANNED, "", None
    try:
        result = scanning.scan_stream(stream)
    except scanning.ScannerUnavailable as error:
        logger.warning("Virus scanner unavailable: %s", error)
        raise FileRefused(
            _("The virus scanner is not answering, so no file can be added now. Try again in a few minutes."),
            code="scanner_unavailable",
        ) from None
    finally:
        stream.seek(0)
    return (ScanStatus.INFECTED if result.infected else ScanStatus.CLEAN), result.signature, timezone.now()


def _store(stream, sha256: str, size: int, head: bytes) -> StoredContent:
    """The content's row, stored once: an existing content is reused (its scan and preview too). One
    stored before the scanner was set up is scanned when it comes again."""
    known = StoredContent.objects.filter(sha256=sha256).first()
    if known is not None:
        if known.scan_status == ScanStatus.NOT_SCANNED and scanning.scanning_enabled():
            scan_status, signature, scanned_at = _scan(stream)
            StoredContent.objects.filter(pk=known.pk).update(scan_status=scan_status, scan_signature=signature, scanned_at=scanned_at)
            known.refresh_from_db()
        return known
    scan_status, signature, scanned_at = _scan(stream)
    mime_type = content.sniff_type(head)
    storage = content.storage()
    name = content.content_name(sha256, quarantined=scan_status == ScanStatus.INFECTED)
    if not storage.exists(name):
        name = storage.save(name, File(stream, name=name))
    preview = PreviewStatus.PENDING if scan_status != ScanStatus.INFECTED and content.has_preview(mime_type) else PreviewStatus.NONE
    try:
        with transaction.atomic():
            return StoredContent.objects.create(
                sha256=sha256, size=size, mime_type=mime_type, storage_name=name, scan_status=scan_status,
                scan_signature=signature, scanned_at=scanned_at, preview_status=preview,
            )
    except IntegrityError:  # stored at the same moment by another upload: theirs is ours
        return StoredContent.objects.get(sha256=sha256)


def attachment_add(
    *,
    file,
    actor,
    deal: Deal | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
    name: str | None = None,
    source: str = AttachmentSource.UPLOAD,
    uploaded_at: datetime | None = None,
) -> Attachment:
    """Attach `file` (a Django File, an upload or any binary file object) to one record. An
    infected file is kept in quarantine (nobody can download it) and returned like any other;
    callers tell the user (`attachment.content.is_quarantined`)."""
    subject = _one_subject(deal, organization, person)
    if source not in AttachmentSource.values:
        raise ValueError(f"Unknown source {source!r}")
    shown = clean_name(name or getattr(file, "name", "") or "")
    sha256, size, head = _digest(file)
    if size > limits().file_bytes:
        raise FileRefused(file_too_large_message(shown, size), code="file_too_large")
    stored = _store(file, sha256, size, head)
    with transaction.atomic():
        attachment = Attachment.objects.create(
            content=stored, name=shown, size=stored.size, mime_type=stored.mime_type, source=source,
            uploaded_by=actor if getattr(actor, "pk", None) else None, uploaded_at=uploaded_at or timezone.now(), **subject,
        )
        changes = {"name": [None, shown], "size": [None, str(stored.size)], "type": [None, stored.mime_type]}
        if stored.is_quarantined:
            changes["quarantined"] = [None, stored.scan_signature]
        config_change_record(instance=attachment, action=ConfigAction.CREATE, changes=changes, actor=actor)
        if stored.preview_status == PreviewStatus.PENDING:
            from .tasks import preview_make

            transaction.on_commit(lambda: preview_make.delay(stored.pk), robust=True)
    return attachment


def attachments_add(*, files: list, actor, source: str = AttachmentSource.UPLOAD, **subject) -> list[Attachment]:
    """Several files onto one record: the limits are checked for all of them before any is stored."""
    upload_check([(getattr(f, "name", "") or "", f.size) for f in files])
    return [attachment_add(file=f, actor=actor, source=source, **subject) for f in files]


def attachment_rename(*, attachment: Attachment, name: str, actor) -> Attachment:
    with transaction.atomic():
        locked = Attachment.objects.select_for_update().get(pk=attachment.pk)
        if locked.deleted_at is not None:
            raise FileRefused(_("This file was deleted."), code="deleted")
        new = clean_name(name)
        if new == locked.name:
            return locked
        old, locked.name = locked.name, new
        locked.save(update_fields=["name"])
        config_change_record(instance=locked, action=ConfigAction.UPDATE, changes={"name": [old, new]}, actor=actor)
    return locked


def attachment_delete(*, attachment: Attachment, actor) -> Attachment:
    """Delete a file: gone from the record at once, from the storage after the grace period
    (attachments_purge), unless another attachment holds the same content."""
    with transaction.atomic():
        locked = Attachment.objects.select_for_update().get(pk=attachment.pk)
        if locked.deleted_at is not None:
            return locked
        locked.deleted_at = timezone.now()
        locked.deleted_by = actor if getattr(actor, "pk", None) else None
        locked.save(update_fields=["deleted_at", "deleted_by"])
        config_change_record(instance=locked, action=ConfigAction.DELETE, changes={"name": [locked.name, None]}, actor=actor)
    return locked


# --- Previews and the purge (the worker) ------------------------------------------------------------


def content_preview_make(*, content_id: int) -> str:
    """Make the preview of a content (idempotent: a content whose preview is not pending is left
    alone). Returns the preview's status."""
    stored = StoredContent.objects.filter(pk=content_id).first()
    if stored is None or stored.preview_status != PreviewStatus.PENDING:
        return stored.preview_status if stored else "gone"
    storage = content.storage()
    try:
        with storage.open(stored.storage_name, "rb") as stream:
            if stored.mime_type == content.PDF_TYPE:
                png, width, height = previews.pdf_preview(stream)
            else:
                png, width, height = previews.image_preview(stream)
    except previews.PreviewRefused as refusal:
        logger.info("No preview of content %s: %s", stored.pk, refusal)
        StoredContent.objects.filter(pk=stored.pk).update(preview_status=PreviewStatus.FAILED)
        return PreviewStatus.FAILED
    name = content.preview_name(stored.sha256)
    if storage.exists(name):
        storage.delete(name)
    name = storage.save(name, ContentFile(png))
    StoredContent.objects.filter(pk=stored.pk).update(
        preview_status=PreviewStatus.READY, preview_name=name, preview_width=width, preview_height=height
    )
    return PreviewStatus.READY


def _content_remove(stored: StoredContent) -> None:
    storage = content.storage()
    for name in (stored.storage_name, stored.preview_name):
        if name:
            storage.delete(name)


def contents_release(content_ids) -> int:
    """Remove from storage (and forget) the contents among these that no attachment points at."""
    held = Attachment.objects.filter(content_id=OuterRef("pk"))
    removed = 0
    for stored in StoredContent.objects.filter(pk__in=list(content_ids)).exclude(Exists(held)):
        with transaction.atomic():
            # Re-checked under the row lock: an upload of the same content may have just reused it.
            locked = StoredContent.objects.select_for_update().filter(pk=stored.pk).exclude(Exists(held)).first()
            if locked is None:
                continue
            locked.delete()
            transaction.on_commit(lambda s=locked: _content_remove(s))
        removed += 1
    return removed


def attachments_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Files deleted longer ago than the grace period let go of their content; contents that no
    file holds any more leave the storage. Safe to run twice; done in batches of PURGE_BATCH."""
    cutoff = (now or timezone.now()) - grace_period()
    released, removed = 0, 0
    while True:
        batch = list(
            Attachment.objects.filter(deleted_at__lte=cutoff, purged_at__isnull=True).order_by("pk").values_list("pk", "content_id")[:PURGE_BATCH]
        )
        if not batch:
            break
        Attachment.objects.filter(pk__in=[pk for pk, _c in batch]).update(content=None, purged_at=timezone.now())
        released += len(batch)
        removed += contents_release({c for _pk, c in batch if c})
    return {"files": released, "contents": removed}
