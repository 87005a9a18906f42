"""Every write to activities, notes and onboarding checklists goes through these functions.

Permissions are checked by the views (with activities.selectors); the services check the rules
of the data. Deal fields are still written only through pipeline.services.
"""
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pipeline import custom_fields
from pipeline import services as pipeline_services
from pipeline.exceptions import PipelineError
from pipeline.models import Deal, DealStatus, Organization, Person, Pipeline

from .models import Activity, ActivityKind, Note, OnboardingItem, OnboardingTask
from .signals import activities_changed

NOTE_MAX_LENGTH = 20_000


class ActivityError(PipelineError):
    """A refused activity, note or checklist change; `message` is safe to show."""


def _clean_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise ActivityError(_("An activity needs a title."), code="invalid_title")
    return title[:200]


def _one_subject(deal, organization, person) -> bool:
    """An activity or note is about exactly one thing: a deal, an organisation or a person."""
    return sum(subject is not None for subject in (deal, organization, person)) == 1


def _person_check(person: Person | None) -> None:
    if person is not None and person.erased_at is not None:
        raise ActivityError(_("This person's data was erased; nothing more is recorded about them."), code="erased")


def _clean_kind(kind: str) -> str:
    if kind not in ActivityKind.values:
        raise ActivityError(_("Choose call, meeting, e-mail or task."), code="invalid_kind")
    return kind


# --- Activities -----------------------------------------------------------------------------


def activity_create(
    *,
    actor,
    kind: str,
    title: str,
    due_at: datetime,
    deal: Deal | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
    owner=None,
    note: str = "",
    custom: dict | None = None,
) -> Activity:
    """Plan an activity on a deal, an organisation or a person (one of them: a deal's activities
    belong to the deal, a call with a person to the person). `custom`: the custom fields' values
    (pipeline.custom_fields; required ones are required when it is given)."""
    if not _one_subject(deal, organization, person):
        raise ActivityError(_("An activity belongs to a deal, an organisation or a person."), code="invalid_target")
    _person_check(person)
    if due_at is None:
        raise ActivityError(_("An activity needs a due date and time."), code="invalid_due")
    custom = custom_fields.values_clean(kind="activity", values=custom, creating=True) if custom is not None else {}
    return Activity.objects.create(
        kind=_clean_kind(kind),
        title=_clean_title(title),
        due_at=due_at,
        deal=deal,
        organization=organization,
        person=person,
        owner=owner or actor,
        note=(note or "").strip(),
        created_by=actor if getattr(actor, "pk", None) else None,
        custom=custom,
    )


ACTIVITY_EDITABLE = ("kind", "title", "due_at", "owner", "note", "custom")


@transaction.atomic
def activity_update(*, activity: Activity | int, actor, **data) -> Activity:
    unknown = set(data) - set(ACTIVITY_EDITABLE)
    if unknown:
        raise TypeError(f"activity_update() cannot change {', '.join(sorted(unknown))}")
    pk = activity.pk if isinstance(activity, Activity) else activity
    locked = Activity.objects.select_for_update().get(pk=pk)
    if "title" in data:
        data["title"] = _clean_title(data["title"])
    if "kind" in data:
        data["kind"] = _clean_kind(data["kind"])
    if "note" in data:
        data["note"] = (data["note"] or "").strip()
    if "due_at" in data and data["due_at"] is None:
        raise ActivityError(_("An activity needs a due date and time."), code="invalid_due")
    if "custom" in data:
        data["custom"] = custom_fields.values_clean(kind="activity", values=data["custom"] or {}, current=locked.custom or {})
    changed = [name for name, value in data.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, data[name])
    if changed:
        locked.save(update_fields=changed)
        activities_changed.publish(activity_ids=[locked.pk], kind="updated", fields=sorted(changed))
    return locked


@transaction.atomic
def activity_delete(*, activity: Activity | int, actor) -> bool:
    """Delete a planned activity that was never done (a bulk change's undo); False when it was done
    or is gone, which leaves it as it is."""
    pk = activity.pk if isinstance(activity, Activity) else activity
    deleted, _rows = Activity.objects.filter(pk=pk, done_at__isnull=True, cancelled=False).delete()
    return bool(deleted)


@transaction.atomic
def activity_complete(*, activity: Activity | int, actor, at: datetime | None = None) -> Activity:
    """Mark an activity done (by `actor`, now). Completing a done activity changes nothing."""
    pk = activity.pk if isinstance(activity, Activity) else activity
    locked = Activity.objects.select_for_update().get(pk=pk)
    if locked.done_at is not None:
        return locked
    locked.done_at = at or timezone.now()
    locked.done_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["done_at", "done_by"])
    return locked


@transaction.atomic
def activity_reopen(*, activity: Activity | int, actor) -> Activity:
    pk = activity.pk if isinstance(activity, Activity) else activity
    locked = Activity.objects.select_for_update().get(pk=pk)
    if locked.done_at is None:
        return locked
    locked.done_at = None
    locked.done_by = None
    locked.cancelled = False
    locked.save(update_fields=["done_at", "done_by", "cancelled"])
    return locked


def activities_cancel_of_lost_deals(*, deal_ids: list[int], at: datetime | None = None) -> int:
    """Close the open activities of deals that are lost (now, not only when the event was sent):
    nobody calls about a deal given up, and "My activities" stops listing them. They are marked
    cancelled, not done, and come back if the deal is reopened. Returns how many were closed."""
    with transaction.atomic():
        closing = Activity.objects.filter(deal_id__in=deal_ids, deal__status=DealStatus.LOST, done_at__isnull=True)
        ids = sorted(closing.values_list("pk", flat=True))
        closed = Activity.objects.filter(pk__in=ids).update(done_at=at or timezone.now(), done_by=None, cancelled=True)
        if ids:
            activities_changed.publish(activity_ids=ids, kind="cancelled")
        return closed


def activities_restore_of_reopened_deals(*, deal_ids: list[int]) -> int:
    """Open again the activities that a loss cancelled, for deals that are open again."""
    with transaction.atomic():
        return Activity.objects.filter(
            deal_id__in=deal_ids, deal__status=DealStatus.OPEN, cancelled=True
        ).update(done_at=None, done_by=None, cancelled=False)


# --- Notes ----------------------------------------------------------------------------------


def note_create(*, actor, body: str, deal: Deal | None = None, organization: Organization | None = None,
                person: Person | None = None) -> Note:
    """Store a note on a deal, an organisation or a person, as typed; it is escaped and sanitised
    whenever it is shown (formatting.render_note)."""
    if not _one_subject(deal, organization, person):
        raise ActivityError(_("A note belongs to a deal, an organisation or a person."), code="invalid_target")
    _person_check(person)
    body = (body or "").strip()
    if not body:
        raise ActivityError(_("The note is empty."), code="empty_note")
    if len(body) > NOTE_MAX_LENGTH:
        raise ActivityError(_("A note can hold up to 20,000 characters."), code="note_too_long")
    return Note.objects.create(
        deal=deal, organization=organization, person=person, author=actor if getattr(actor, "pk", None) else None, body=body,
    )


# --- Onboarding -----------------------------------------------------------------------------


def onboarding_checklist_ensure(*, deal: Deal | int) -> int:
    """Give a won deal a copy of its pipeline's active onboarding items; returns how many were
    added. Safe to run any number of times: the unique (deal, item) constraint skips existing
    copies, so a repeated signal or a deal won twice never duplicates an item."""
    deal = deal if isinstance(deal, Deal) else Deal.objects.get(pk=deal)
    if deal.status != DealStatus.WON:
        return 0
    items = list(OnboardingItem.objects.filter(pipeline_id=deal.pipeline_id, is_active=True))
    existing = set(OnboardingTask.objects.filter(deal=deal).values_list("item_id", flat=True))
    rows = [
        OnboardingTask(deal=deal, item=item, title=item.title, position=item.position)
        for item in items
        if item.pk not in existing
    ]
    created = OnboardingTask.objects.bulk_create(rows, ignore_conflicts=True)
    _retention_sync(deal.pk)
    return len(created)


def _retention_sync(deal_id: int) -> None:
    """Tell the pipeline whether the deal's onboarding is complete (all of a non-empty checklist)."""
    tasks = OnboardingTask.objects.filter(deal_id=deal_id)
    done = tasks.exists() and not tasks.filter(done_at__isnull=True).exists()
    pipeline_services.deal_retention_mark(deal=deal_id, done=done)


@transaction.atomic
def onboarding_task_set_done(*, task: OnboardingTask | int, actor, done: bool) -> OnboardingTask:
    """Tick an onboarding item off (or on again); when the last one is ticked, the deal's
    onboarding is complete and it leaves the board."""
    pk = task.pk if isinstance(task, OnboardingTask) else task
    locked = OnboardingTask.objects.select_for_update().get(pk=pk)
    if (locked.done_at is not None) != done:
        locked.done_at = timezone.now() if done else None
        locked.done_by = actor if done and getattr(actor, "pk", None) else None
        locked.save(update_fields=["done_at", "done_by"])
    _retention_sync(locked.deal_id)
    return locked


def upsell_create(*, actor, deal: Deal, pipeline: Pipeline, title: str) -> Deal:
    """A new deal for the same customer (the won deal's lead) in `pipeline`."""
    if deal.status != DealStatus.WON:
        raise ActivityError(_("Upsell deals start from a won deal."), code="not_won")
    title = (title or "").strip() or _("Upsell: %(deal)s") % {"deal": deal.title}
    return pipeline_services.deal_create(actor=actor, organization=deal.organization, title=title[:200], pipeline=pipeline, owner=actor)
