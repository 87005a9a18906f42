"""Files on deals, organisations and people.

Each content is stored once, named by its SHA-256 (`StoredContent`); every file a person attached
to a record is an `Attachment` that points at it with its own name. Two reps attaching the same
contract, or an e-mail's attachment that is already on the deal, cost the storage once.

Written only by attachments.services; read through attachments.selectors. Depends on `pipeline`;
the pipeline never imports this app (it shows our panels through pipeline.extensions).
"""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.models import Deal, Organization, Person


class ScanStatus(models.TextChoices):
    NOT_SCANNED = "not_scanned", _("not scanned")
    CLEAN = "clean", _("clean")
    INFECTED = "infected", _("infected")


class PreviewStatus(models.TextChoices):
    NONE = "none", _("no preview")  # not an image or PDF
    PENDING = "pending", _("preview pending")
    READY = "ready", _("preview ready")
    FAILED = "failed", _("no preview possible")


class AttachmentSource(models.TextChoices):
    UPLOAD = "upload", _("uploaded")
    API = "api", _("uploaded through the API")
    EMAIL = "email", _("e-mail attachment")


class StoredContent(models.Model):
    """One content in the attachments storage, whatever its names. Removed from storage (and this
    row deleted) only when no attachment points at it any more (attachments.services.contents_purge)."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    size = models.PositiveBigIntegerField(_("size"))
    mime_type = models.CharField(_("type"), max_length=100, help_text=_("Sniffed from the content, not from a name."))
    storage_name = models.CharField(_("name in storage"), max_length=255)
    scan_status = models.CharField(_("virus scan"), max_length=12, choices=ScanStatus.choices, default=ScanStatus.NOT_SCANNED)
    scan_signature = models.CharField(_("virus found"), max_length=200, blank=True)
    scanned_at = models.DateTimeField(_("scanned"), null=True, blank=True)
    preview_status = models.CharField(_("preview"), max_length=8, choices=PreviewStatus.choices, default=PreviewStatus.NONE)
    preview_name = models.CharField(_("preview in storage"), max_length=255, blank=True)
    preview_width = models.PositiveIntegerField(_("preview width"), null=True, blank=True)
    preview_height = models.PositiveIntegerField(_("preview height"), null=True, blank=True)
    created_at = models.DateTimeField(_("stored"), default=timezone.now)

    class Meta:
        verbose_name = _("stored content")
        verbose_name_plural = _("stored contents")

    def __str__(self):
        return f"{self.sha256[:12]} ({self.mime_type}, {self.size} B)"

    @property
    def is_quarantined(self) -> bool:
        return self.scan_status == ScanStatus.INFECTED


class Attachment(models.Model):
    """A file on exactly one deal, organisation or person. Deleting one keeps the row (the history
    shows who deleted what, when); its content leaves the storage after the grace period
    STAGEFLOW["FILES_DELETE_GRACE_DAYS"] (the `attachments-purge` schedule), when `content` is
    set to null and `purged_at` recorded."""

    content = models.ForeignKey(
        StoredContent, verbose_name=_("content"), null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    deal = models.ForeignKey(Deal, verbose_name=_("deal"), null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    name = models.CharField(_("name"), max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    mime_type = models.CharField(_("type"), max_length=100)
    source = models.CharField(_("source"), max_length=8, choices=AttachmentSource.choices, default=AttachmentSource.UPLOAD)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("deleted by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    purged_at = models.DateTimeField(_("removed from storage"), null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        verbose_name = _("file")
        verbose_name_plural = _("files")
        indexes = [
            models.Index(fields=["deal", "deleted_at"], name="attachment_deal_idx"),
            models.Index(fields=["organization", "deleted_at"], name="attachment_organization_idx"),
            models.Index(fields=["person", "deleted_at"], name="attachment_person_idx"),
            # The purge: deleted files whose grace period is over, and contents nobody points at.
            models.Index(fields=["deleted_at", "purged_at"], name="attachment_purge_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(deal__isnull=False, organization__isnull=True, person__isnull=True)
                    | models.Q(deal__isnull=True, organization__isnull=False, person__isnull=True)
                    | models.Q(deal__isnull=True, organization__isnull=True, person__isnull=False)
                ),
                name="attachment_on_exactly_one_record",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return self.subject.get_absolute_url() + "#files"

    @property
    def subject(self):
        return self.deal if self.deal_id else self.organization if self.organization_id else self.person

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None
