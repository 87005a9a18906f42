"""Reads that depend on the user. An activity or note on a deal is visible with the deal. One on a
lead (an organisation) or a person is visible when that is AND the user may see the deals of its author
(for an activity: its owner), pipeline.selectors.visible_colleagues: an organisation that two teams
sell to shows each team only what its own people wrote. One without an author (deleted, or written
by an import) is visible with the lead."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from pipeline import selectors as pipeline_selectors

from .models import Activity, Note, OnboardingTask


def _on_a_visible_organization_by_visible_people(user, person_field: str) -> Q:
    """Not on a deal, on an organisation or a person the user sees, and written by someone whose
    deals the user sees (or by nobody)."""
    organizations = pipeline_selectors.visible_organizations(user).filter(pk=OuterRef("organization_id"))
    persons = pipeline_selectors.visible_persons(user).filter(pk=OuterRef("person_id"))
    on_organization = Q(deal__isnull=True) & (
        Q(Exists(organizations)) | (Q(organization__isnull=True) & Q(Exists(persons)))
    )
    if getattr(user, "is_admin", False):
        return on_organization
    people = pipeline_selectors.visible_colleagues(user).filter(pk=OuterRef(f"{person_field}_id"))
    return on_organization & (Q(**{f"{person_field}__isnull": True}) | Q(Exists(people)))


def visible_activities(user) -> QuerySet[Activity]:
    # Correlated EXISTS rather than `deal_id IN (visible deals)`: the database checks the few
    # activities' own deals by primary key instead of listing every visible deal first.
    deals = pipeline_selectors.visible_deals(user).filter(pk=OuterRef("deal_id"))
    return Activity.objects.filter(Q(Exists(deals)) | _on_a_visible_organization_by_visible_people(user, "owner"))


def visible_notes(user) -> QuerySet[Note]:
    deals = pipeline_selectors.visible_deals(user).filter(pk=OuterRef("deal_id"))
    return Note.objects.filter(Q(Exists(deals)) | _on_a_visible_organization_by_visible_people(user, "author"))


def organization_open_activities(user, organization) -> list[Activity]:
    """The open activities on a lead the user sees (the lead page checked the lead itself)."""
    return list(
        visible_activities(user).filter(organization=organization, done_at__isnull=True).select_related("owner").order_by("due_at", "pk")
    )


def organization_notes(user, organization) -> list[Note]:
    return list(visible_notes(user).filter(organization=organization).select_related("author").order_by("-created_at", "-pk"))


def can_change_activity(user, activity: Activity) -> bool:
    """Its owner, and whoever may change its deal, organisation or person (callers check visibility first)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if activity.owner_id == user.pk:
        return True
    if activity.deal_id:
        return pipeline_selectors.can_change_deal(user, activity.deal)
    if activity.organization_id:
        return pipeline_selectors.can_change_organization(user, activity.organization)
    return pipeline_selectors.can_change_person(user, activity.person)


def visible_onboarding_tasks(user) -> QuerySet[OnboardingTask]:
    return OnboardingTask.objects.filter(deal__in=pipeline_selectors.visible_deals(user).values("pk"))


@dataclass
class MyActivities:
    overdue: list[Activity] = field(default_factory=list)
    today: list[Activity] = field(default_factory=list)
    upcoming: list[Activity] = field(default_factory=list)
    done_today: list[Activity] = field(default_factory=list)


UPCOMING_LIMIT = 100


def my_activities(user, *, now: datetime | None = None) -> MyActivities:
    """The user's open activities: overdue (due before now), today (due later today) and
    upcoming (after today, the next UPCOMING_LIMIT), plus what they finished today. Two queries."""
    now = now or timezone.now()
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    tomorrow = start_of_day + timedelta(days=1)
    base = visible_activities(user).filter(owner=user).select_related("deal", "organization", "deal__organization")
    result = MyActivities()
    for activity in base.filter(done_at__isnull=True).order_by("due_at", "pk")[: UPCOMING_LIMIT * 2]:
        if activity.due_at < now:
            result.overdue.append(activity)
        elif activity.due_at < tomorrow:
            result.today.append(activity)
        elif len(result.upcoming) < UPCOMING_LIMIT:
            result.upcoming.append(activity)
    result.done_today = list(base.filter(done_at__gte=start_of_day, cancelled=False).order_by("-done_at", "-pk")[:50])
    return result


def deal_open_activities(deal) -> list[Activity]:
    return list(deal.activities.filter(done_at__isnull=True).select_related("owner").order_by("due_at", "pk"))


def deal_notes(deal) -> QuerySet[Note]:
    return deal.notes.select_related("author")
