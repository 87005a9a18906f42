from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    REP = "rep", _("Sales rep")
    MANAGER = "manager", _("Sales manager")
    ADMIN = "admin", _("Admin")


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        # Held by the manager role (accounts/roles.py); checked where a deal changes hands.
        permissions = [
            ("reassign_team_deals", _("Can reassign deals within the team")),
            ("view_team_forecast", _("Can see the team's forecast")),
        ]

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A person who signs in to Stageflow. Roles are Django groups; `role` mirrors the main one."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    # Chosen in the user menu; empty = follow the browser (see localization.middleware).
    language = models.CharField(_("language"), max_length=10, blank=True, default="", choices=settings.LANGUAGES)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def initials(self) -> str:
        parts = [p for p in (self.first_name, self.last_name) if p]
        if parts:
            return "".join(p[0] for p in parts).upper()[:2]
        return self.username[:2].upper()


class ConfigAction(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    DELETE = "delete", _("deleted")
    # Organisations and people (pipeline.merging, pipeline.privacy): a merge into this record, an
    # export of everything held about a person, the erasure of their personal data.
    MERGE = "merge", _("merged")
    EXPORT = "export", _("exported")
    ERASE = "erase", _("erased")


class ConfigChange(models.Model):
    """Append-only audit trail of configuration: stages, transitions, pipelines, lost reasons,
    teams and users' roles and teams. Written only by `accounts.services.config_change_record`.

    The one exception: when a person's personal data is erased on request, the values that name
    them are scrubbed from the rows about them (`accounts.services.config_changes_scrub`); which
    fields changed, when and by whom stays."""

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(
        _("by (outside Stageflow)"),
        max_length=200,
        blank=True,
        help_text=_("Who acted when it was not a signed-in user, e.g. a management command."),
    )
    content_type = models.ForeignKey(ContentType, verbose_name=_("kind"), on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    action = models.CharField(_("action"), max_length=8, choices=ConfigAction.choices)
    # {field name: [old value, new value]} as text; old is null on create, new is null on delete.
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("configuration change")
        verbose_name_plural = _("configuration changes")
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="configchange_object_idx")]

    def __str__(self):
        return f"{self.object_repr} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        # An audit trail that can be edited is no audit trail: rows are written once.
        if not self._state.adding:
            raise ValueError("ConfigChange rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ConfigChange rows are append-only.")

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or str(_("system"))
