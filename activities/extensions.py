"""What this app adds to the pipeline's pages, registered in ActivitiesConfig.ready.

A card shows an open deal's next open activity and a won deal's onboarding progress
(templates/activities/_card.html), as `next_activity_title`, `next_activity_due`,
`next_activity_kind`, `onboarding_done` and `onboarding_total`. The board reads them for all its
cards in one query (load_card_data); a single card reads them as annotations of its own query
(card_annotations). See pipeline.extensions for why this is a registry: the pipeline app must
not import this one.
"""
from django.db.models import CharField, Count, DateTimeField, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string

from pipeline import extensions
from pipeline.extensions import TimelineEntry

from . import selectors
from .models import Activity, OnboardingTask

# The order in which a deal's open activities are due: the first is the card's next activity.
NEXT_FIRST = ("due_at", "pk")


def load_card_data(cards) -> None:
    """The card values of many cards in one query: the cards' open activities and their
    onboarding progress, as rows of one shape (deal, activity id, title, due, kind, tasks done,
    tasks in all) read together with UNION ALL. The same values as card_annotations give."""
    ids = [card.pk for card in cards]
    number, text = IntegerField(), CharField()
    activities = (
        Activity.objects.filter(deal_id__in=ids, done_at__isnull=True)
        .order_by()
        .values_list("deal_id", "pk", "title", "due_at", "kind", Value(0, number), Value(0, number))
    )
    progress = (
        OnboardingTask.objects.filter(deal_id__in=ids)
        .order_by()
        .values("deal_id")
        .annotate(done=Count("pk", filter=Q(done_at__isnull=False)), total=Count("pk"))
        .values_list(
            "deal_id", Value(None, number), Value("", text), Value(None, DateTimeField()), Value("", text), "done", "total"
        )
    )
    next_activity, onboarding = {}, {}
    rows = activities.union(progress, all=True) if ids else []
    for deal_id, pk, title, due, kind, done, total in rows:
        if pk is None:
            onboarding[deal_id] = (done, total)
        elif deal_id not in next_activity or (due, pk) < next_activity[deal_id][:2]:
            next_activity[deal_id] = (due, pk, title, kind)
    for card in cards:
        card.next_activity_due, _, card.next_activity_title, card.next_activity_kind = next_activity.get(
            card.pk, (None, None, None, None)
        )
        card.onboarding_done, card.onboarding_total = onboarding.get(card.pk, (0, 0))


def _next_open(field: str):
    open_activities = Activity.objects.filter(deal_id=OuterRef("pk"), done_at__isnull=True).order_by(*NEXT_FIRST)
    return Subquery(open_activities.values(field)[:1])


def _onboarding_count(done: bool | None):
    tasks = OnboardingTask.objects.filter(deal_id=OuterRef("pk"))
    if done:
        tasks = tasks.filter(done_at__isnull=False)
    counted = tasks.order_by().values("deal_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def timeline_entries(*, deal, user=None) -> list[TimelineEntry]:
    """Done activities (at the time they were done) and notes (when written)."""
    entries = [
        TimelineEntry(at=a.done_at, kind="activity", row=a, template="activities/_timeline_activity.html", order=2)
        for a in deal.activities.filter(done_at__isnull=False).select_related("owner", "done_by")
    ]
    entries += [
        TimelineEntry(at=n.created_at, kind="note", row=n, template="activities/_timeline_note.html", order=3)
        for n in deal.notes.select_related("author")
    ]
    return entries


def _about(row, organization) -> object | None:
    """What an organisation's timeline names beside an activity or note: the deal or person it is
    about, when it is not the organisation itself. A person's timeline names nothing: all is theirs."""
    if organization is None:
        return None
    return row.deal if row.deal_id else row.person if row.person_id else None


def record_timeline_entries(*, user, organization=None, person=None, limit: int) -> list[TimelineEntry]:
    """The newest `limit` done activities and notes the user sees about an organisation (also those
    on its people and deals) or a person: two queries whatever their number."""
    activities, notes = selectors.record_history(user, organization=organization, person=person, limit=limit)
    entries = [
        TimelineEntry(at=a.done_at, kind="activity", row=a, template="activities/_timeline_activity.html", order=2,
                      extra={"about": _about(a, organization)})
        for a in activities
    ]
    entries += [
        TimelineEntry(at=n.created_at, kind="note", row=n, template="activities/_timeline_note.html", order=3,
                      extra={"about": _about(n, organization)})
        for n in notes
    ]
    return entries


def deal_panel(*, request, deal, can_change) -> str:
    from .views import deal_panel_context

    return render_to_string("activities/_deal_panel.html", deal_panel_context(request, deal, can_change), request)


def organization_panel(*, request, organization, can_change) -> str:
    from .views import organization_panel_context

    return render_to_string("activities/_record_panel.html", organization_panel_context(request, organization, can_change), request)


def person_panel(*, request, person, can_change) -> str:
    from .views import person_panel_context

    return render_to_string("activities/_record_panel.html", person_panel_context(request, person, can_change), request)


def register() -> None:
    extensions.register_card_data_loader("activities", load_card_data)
    extensions.register_card_annotation("next_activity_title", lambda: _next_open("title"))
    extensions.register_card_annotation("next_activity_due", lambda: _next_open("due_at"))
    extensions.register_card_annotation("next_activity_kind", lambda: _next_open("kind"))
    extensions.register_card_annotation("onboarding_total", lambda: _onboarding_count(None))
    extensions.register_card_annotation("onboarding_done", lambda: _onboarding_count(True))
    extensions.register_card_template("activities/_card.html")
    extensions.register_timeline_source("activities", timeline_entries)
    extensions.register_deal_panel("activities", deal_panel)
    extensions.register_organization_panel("activities", organization_panel)
    extensions.register_person_panel("activities", person_panel)
    extensions.register_organization_timeline_source("activities", record_timeline_entries)
    extensions.register_person_timeline_source("activities", record_timeline_entries)

    from . import directory

    extensions.register_merge_mover("activities", directory.merge_move)
    extensions.register_person_eraser("activities", directory.person_erase)
    extensions.register_person_exporter("activities", directory.person_export)
