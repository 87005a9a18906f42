"""An import of leads or deals from a file: upload → column mapping → preview → commit."""
from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    ORGANIZATIONS = "organizations", _("Organisations and their contacts")
    DEALS = "deals", _("Deals")
    PEOPLE = "people", _("People and their organisations")


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Waiting to start")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed, nothing imported")
    UNDONE = "undone", _("Undone")


class ImportJob(models.Model):
    """One uploaded file and what became of it. The file's cells are kept as text in `rows`, so
    that a worker on another machine can run the import without a shared file system."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.CASCADE, related_name="imports"
    )
    kind = models.CharField(_("what"), max_length=16, choices=ImportKind.choices)
    pipeline = models.ForeignKey(
        "pipeline.Pipeline", verbose_name=_("pipeline"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(_("file"), max_length=255)
    file_format = models.CharField(_("format"), max_length=8)
    encoding = models.CharField(_("encoding"), max_length=40, blank=True)
    headers = models.JSONField(_("columns"), default=list)
    rows = models.JSONField(_("rows"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    # {field: {value in the file: choice}} from the value-mapping step (see imports/values.py).
    value_mapping = models.JSONField(_("value mapping"), default=dict, blank=True)
    # {"date_order": "dmy"|"mdy"|"ymd", "decimal_separator": "."|","} as the uploader confirmed them.
    formats = models.JSONField(_("formats"), default=dict, blank=True)
    skip_invalid = models.BooleanField(_("skip rows with errors"), default=False)
    created_users = models.JSONField(_("users created"), default=list, blank=True)
    # What the import wrote, so that it can be undone as a whole (imports/undo.py):
    # {"deals": [ids], "organizations": [ids], "people": [ids], "lost_reasons": [ids]}.
    created_records = models.JSONField(_("records created"), default=dict, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("undone by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_organizations = models.PositiveIntegerField(_("leads created"), default=0)
    created_deals = models.PositiveIntegerField(_("deals created"), default=0)
    skipped_rows = models.PositiveIntegerField(_("rows skipped"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self):
        return f"{self.filename} ({self.get_kind_display()})"

    def get_absolute_url(self):
        return reverse("imports:status", args=[self.pk])

    @property
    def progress_key(self) -> str:
        return f"imports:progress:{self.pk}"

    @property
    def progress(self) -> int:
        """Rows done so far. While the import's transaction is open its writes are invisible to
        other connections, so the running count is published through the cache."""
        if self.status == ImportStatus.RUNNING:
            return min(self.total_rows, int(cache.get(self.progress_key) or 0))
        return self.processed_rows

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return int(100 * self.progress / self.total_rows) if self.total_rows else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.UNDONE)


class ImportLayout(models.Model):
    """What the uploader chose for a file layout (the same kind and header row), proposed again
    for the next file of that layout: the column mapping, the value mapping and the formats."""

    kind = models.CharField(_("what"), max_length=16, choices=ImportKind.choices)
    headers_hash = models.CharField(_("header row fingerprint"), max_length=64)
    headers = models.JSONField(_("columns"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    value_mapping = models.JSONField(_("value mapping"), default=dict, blank=True)
    formats = models.JSONField(_("formats"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("import layout")
        verbose_name_plural = _("import layouts")
        constraints = [models.UniqueConstraint(fields=["kind", "headers_hash"], name="import_layout_unique")]

    def __str__(self):
        return f"{self.get_kind_display()}: {', '.join(self.headers)[:80]}"
