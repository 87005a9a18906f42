"""Reads that depend on the user: an activity or note is visible when its deal (or, for one on
a lead, its lead) is visible through pipeline.selectors."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from pipeline import selectors as pipeline_selectors

from .models import Activity, Note, OnboardingTask


def visible_activities(user) -> QuerySet[Activity]:
    # Correlated EXISTS rather than `deal_id IN (visible deals)`: the database checks the few
    # activities' own deals by primary key instead of listing every visible deal first.
    deals = pipeline_selectors.visible_deals(user).filter(pk=OuterRef("deal_id"))
    leads = pipeline_selectors.visible_leads(user).filter(pk=OuterRef("lead_id"))
    return Activity.objects.filter(Q(Exists(deals)) | Q(deal__isnull=True) & Q(Exists(leads)))


def can_change_activity(user, activity: Activity) -> bool:
    """Its owner, and whoever may change its deal or lead (callers check visibility first)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if activity.owner_id == user.pk:
        return True
    if activity.deal_id:
        return pipeline_selectors.can_change_deal(user, activity.deal)
    return pipeline_selectors.can_change_lead(user, activity.lead)


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
    base = visible_activities(user).filter(owner=user).select_related("deal", "lead", "deal__lead")
    result = MyActivities()
    for activity in base.filter(done_at__isnull=True).order_by("due_at", "pk")[: UPCOMING_LIMIT * 2]:
        if activity.due_at < now:
            result.overdue.append(activity)
        elif activity.due_at < tomorrow:
            result.today.append(activity)
        elif len(result.upcoming) < UPCOMING_LIMIT:
            result.upcoming.append(activity)
    result.done_today = list(base.filter(done_at__gte=start_of_day).order_by("-done_at", "-pk")[:50])
    return result


def deal_open_activities(deal) -> list[Activity]:
    return list(deal.activities.filter(done_at__isnull=True).select_related("owner").order_by("due_at", "pk"))


def deal_notes(deal) -> QuerySet[Note]:
    return deal.notes.select_related("author")
