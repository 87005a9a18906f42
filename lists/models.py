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
