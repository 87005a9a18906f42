"""Demo activities, notes and onboarding checklists on top of pipeline's demo data."""
import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from pipeline.models import Deal, DealStatus, Pipeline
from pipeline.names import default_translations

from .models import Activity, ActivityKind, Note, OnboardingItem, OnboardingTask
from .services import onboarding_checklist_ensure

DEFAULT_CHECKLIST = [
    gettext_noop("Kick-off call"), gettext_noop("Accounts created"), gettext_noop("Data imported"),
    gettext_noop("Training held"), gettext_noop("First invoice paid"),
]
TITLES = {
    ActivityKind.CALL: ["Call about the budget", "Follow-up call", "Qualify timing and decision makers"],
    ActivityKind.MEETING: ["Demo for the IT team", "Workshop on requirements", "Negotiation meeting"],
    ActivityKind.EMAIL: ["Send the revised offer", "Send the case study", "Send the contract draft"],
    ActivityKind.TASK: ["Prepare the proposal", "Check references", "Update the pricing sheet"],
}
NOTES = [
    "Budget confirmed by the **CFO**.\nDecision expected in *two weeks*.",
    "Needs:\n\n- single sign-on\n- a pilot with one team\n- German invoices",
    "Competitor offer is 10 % cheaper; they value our support. Minutes: https://example.com/minutes",
]


@dataclass
class DemoResult:
    activities: int
    notes: int
    checklists: int


@transaction.atomic
def _since_created(rng: random.Random, deal: Deal, now, *, days: int = 20):
    """A moment of the last `days` days, never before the deal was created (a timeline that starts
    with a note older than its deal looks broken)."""
    earliest = max(deal.created_at, now - timedelta(days=days))
    return now - (now - earliest) * rng.random() if earliest < now else now


def seed_activities_demo(*, seed: int = 42) -> DemoResult:
    rng = random.Random(seed)
    now = timezone.now()
    pipeline = Pipeline.objects.filter(is_default=True).first()
    if pipeline and not OnboardingItem.objects.filter(pipeline=pipeline).exists():
        OnboardingItem.objects.bulk_create(
            [
                OnboardingItem(pipeline=pipeline, title=title, name_translations=default_translations(title), position=i)
                for i, title in enumerate(DEFAULT_CHECKLIST)
            ]
        )
    activities, notes = [], []
    for deal in Deal.objects.filter(status=DealStatus.OPEN).order_by("pk"):
        if rng.random() < 0.75:
            kind = rng.choice(list(ActivityKind))
            hours = rng.choice([-72, -26, -3, 2, 6, 20, 30, 50, 100, 240])
            activities.append(Activity(
                deal=deal, owner_id=deal.owner_id, kind=kind, title=rng.choice(TITLES[kind]),
                due_at=now + timedelta(hours=hours, minutes=rng.choice([0, 15, 30])), created_by_id=deal.owner_id,
            ))
        if rng.random() < 0.5:
            kind = rng.choice(list(ActivityKind))
            done_at = _since_created(rng, deal, now)
            activities.append(Activity(
                deal=deal, owner_id=deal.owner_id, kind=kind, title=rng.choice(TITLES[kind]), due_at=done_at,
                done_at=done_at, done_by_id=deal.owner_id, created_by_id=deal.owner_id,
            ))
        if rng.random() < 0.3:
            notes.append(Note(deal=deal, author_id=deal.owner_id, body=rng.choice(NOTES),
                              created_at=_since_created(rng, deal, now)))
    Activity.objects.bulk_create(activities)
    Note.objects.bulk_create(notes)
    checklists = 0
    recent_won = Deal.objects.filter(status=DealStatus.WON, closed_at__gte=now - timedelta(days=60)).order_by("pk")
    for deal in recent_won:
        onboarding_checklist_ensure(deal=deal)
        tasks = list(OnboardingTask.objects.filter(deal=deal, done_at__isnull=True).order_by("position"))
        for task in tasks[: rng.randint(0, len(tasks) - 1)] if tasks else []:
            task.done_at, task.done_by_id = now - timedelta(days=rng.randint(0, 5)), deal.owner_id
            task.save(update_fields=["done_at", "done_by"])
        checklists += 1
    return DemoResult(activities=len(activities), notes=len(notes), checklists=checklists)
