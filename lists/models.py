"""Saved views of the lists: a filter, columns and a sort under a name, for one person or their
team, pinned in the navigation or not, and each person's default view per list. Written only by
lists.services."""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ListKind(models.TextChoices):
    DEALS = "deals", _("Deals")
    ORGANIZATIONS = "organizations", _("Organisations")
    PEOPLE = "people", _("People")
    ACTIVITIES = "activities", _("Activities")


class SavedView(models.Model):
    kind = models.CharField(_("list"), max_length=16, choices=ListKind.choices)
    name = models.CharField(_("name"), max_length=100)
    # The list's query string without paging: view, filters, cols and sort (lists.filters grammar).
    query = models.TextField(_("query"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="saved_views",
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("shared with team"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="saved_views", help_text=_("Empty: only its owner sees it."),
    )
    pinned = models.BooleanField(_("pinned in the navigation"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["kind", "name", "pk"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        indexes = [
            models.Index(fields=["owner", "kind"], name="savedview_owner_kind_idx"),
            models.Index(fields=["team", "kind"], name="savedview_team_kind_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("lists:list", args=[self.kind]) + f"?saved={self.pk}"


class DefaultView(models.Model):
    """The view a person's list opens with when its address names no filter."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("list"), max_length=16, choices=ListKind.choices)
    view = models.ForeignKey(SavedView, verbose_name=_("saved view"), on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("default view")
        verbose_name_plural = _("default views")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="defaultview_unique_per_list")]

    def __str__(self):
        return f"{self.user_id}: {self.kind} → {self.view_id}"


class BulkAction(models.TextChoices):
    MOVE = "move", _("Move to a stage")
    REASSIGN = "reassign", _("Reassign to")
    LOSE = "lose", _("Mark lost")
    SET_FIELD = "set_field", _("Set a field")
    ADD_ACTIVITY = "add_activity", _("Add an activity")
    DELETE = "delete", _("Delete")


class BulkStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for the worker")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    UNDONE = "undone", _("Undone")


class BulkChange(models.Model):
    """One bulk change of deals: what was asked, on which deals, what each got (changed or refused
    with the reason) and what undoing it needs. Written only by lists.bulk."""

    action = models.CharField(_("change"), max_length=16, choices=BulkAction.choices)
    params = models.JSONField(_("parameters"), default=dict)
    deal_ids = models.JSONField(_("deals"), default=list)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=8, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    done = models.PositiveIntegerField(_("done"), default=0)
    # [{"id", "title", "message"}] of the refused deals; [{"id", "version", "undo"}] of the changed ones.
    refused = models.JSONField(_("refused"), default=list)
    changed = models.JSONField(_("changed"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("bulk change")
        verbose_name_plural = _("bulk changes")

    def __str__(self):
        return f"{self.get_action_display()} ({len(self.deal_ids)})"

    @property
    def total(self) -> int:
        return len(self.deal_ids)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100
