"""What reps do around deals and leads: activities (calls, meetings, e-mails, tasks), notes, and
the onboarding checklist of won deals.

Depends on `pipeline`; the pipeline never imports this app (it shows our data through
pipeline.extensions, registered in ActivitiesConfig.ready).
"""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.models import Deal, Organization, Person, Pipeline
from pipeline.names import localized_name, translations_validate


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("E-mail")
    TASK = "task", _("Task")


class Activity(models.Model):
    """A planned (open) or done activity on a deal, an organisation or a person. Written only by activities.services."""

    kind = models.CharField(_("kind"), max_length=8, choices=ActivityKind.choices, default=ActivityKind.CALL)
    title = models.CharField(_("title"), max_length=200)
    note = models.TextField(_("note"), blank=True)
    due_at = models.DateTimeField(_("due"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="activities"
    )
    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="activities",
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("done by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    cancelled = models.BooleanField(
        _("cancelled"), default=False,
        help_text=_("Closed without being done, because its deal was lost."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["due_at", "pk"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            # The board: a deal's next open activity.
            models.Index(fields=["deal", "done_at", "due_at"], name="activity_deal_next_idx"),
            # "My activities": a user's open activities by due time.
            models.Index(fields=["owner", "done_at", "due_at"], name="activity_owner_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deal__isnull=False) | models.Q(organization__isnull=False) | models.Q(person__isnull=False),
                name="activity_has_a_subject",
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    @property
    def is_overdue(self) -> bool:
        return self.done_at is None and self.due_at < timezone.now()

    def get_absolute_url(self):
        subject = self.deal if self.deal_id else self.organization if self.organization_id else self.person
        return subject.get_absolute_url()


class Note(models.Model):
    """A rep's note on a deal, an organisation or a person. `body` is what they typed; it is shown only through
    activities.formatting.render_note, which escapes and sanitises it."""

    deal = models.ForeignKey(Deal, verbose_name=_("deal"), null=True, blank=True, on_delete=models.CASCADE, related_name="notes")
    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    person = models.ForeignKey(
        Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        indexes = [models.Index(fields=["deal", "created_at"], name="note_deal_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deal__isnull=False) | models.Q(organization__isnull=False) | models.Q(person__isnull=False), name="note_has_a_subject"
            ),
        ]

    def __str__(self):
        return self.body[:50]


class OnboardingItem(models.Model):
    """One step of a pipeline's onboarding checklist, configured by admins. Won deals of the
    pipeline get a copy of every active item."""

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="onboarding_items"
    )
    title = models.CharField(_("title"), max_length=200)
    name_translations = models.JSONField(
        _("title in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Kick-off-Termin"}; a language without a title here reads the title above.'),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["pipeline", "position", "pk"]
        verbose_name = _("onboarding checklist item")
        verbose_name_plural = _("onboarding checklist items")

    def __str__(self):
        return localized_name(self)


class OnboardingTask(models.Model):
    """A won deal's copy of an onboarding item, ticked off by the rep."""

    deal = models.ForeignKey(Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="onboarding_tasks")
    item = models.ForeignKey(
        OnboardingItem, verbose_name=_("checklist item"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tasks",
    )
    title = models.CharField(_("title"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("done by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["deal", "position", "pk"]
        verbose_name = _("onboarding task")
        verbose_name_plural = _("onboarding tasks")
        constraints = [
            # Creating the checklist twice (a repeated signal, a won deal moved back and won
            # again) never duplicates an item.
            models.UniqueConstraint(fields=["deal", "item"], name="onboarding_task_once_per_item"),
        ]

    def __str__(self):
        return self.title

    @property
    def display_title(self) -> str:
        """The title in the reader's language while it is still its checklist item's title (the
        copy keeps what the rep ticked off if an admin renames the item later)."""
        item = self.item if self.item_id else None
        if item is not None and item.title == self.title:
            return localized_name(item)
        return self.title
