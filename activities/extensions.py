"""What this app adds to the pipeline's pages, registered in ActivitiesConfig.ready.

The board's cards get their next open activity and their onboarding progress as annotations
(correlated subqueries on this app's tables, keyed by the card's pk), so the board still loads
all cards in one query. See pipeline.extensions for why this is a registry: the pipeline app
must not import this one.
"""
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from pipeline import extensions
from pipeline.cards import escape  # conditional_escape, cheaper for the card's plain strings
from pipeline.extensions import TimelineEntry

from .models import Activity, OnboardingTask


def _next_open(field: str):
    open_activities = Activity.objects.filter(deal_id=OuterRef("pk"), done_at__isnull=True).order_by("due_at", "pk")
    return Subquery(open_activities.values(field)[:1])


def _onboarding_count(done: bool | None):
    tasks = OnboardingTask.objects.filter(deal_id=OuterRef("pk"))
    if done:
        tasks = tasks.filter(done_at__isnull=False)
    counted = tasks.order_by().values("deal_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def present_cards(cards, *, now, memo) -> None:
    """What card_part prints, once per response (see pipeline.cards)."""
    from .templatetags.activities_tags import due_label, percent_of

    for deal in cards:
        due = deal.next_activity_due if deal.status == "open" else None
        deal.card_activity_overdue = due is not None and due < now
        deal.card_activity_due = memo(("due", due), lambda: due_label(due)) if due is not None else ""
        deal.card_activity_due_iso = due.isoformat() if due is not None else ""
        deal.card_onboarding_percent = percent_of(deal.onboarding_done, deal.onboarding_total)


def card_part():
    """The bottom of a board card: an open deal's next activity (or that none is planned), a won
    deal's onboarding progress. Called once per response; returns the function that writes one
    card's part from the values present_cards set."""
    next_activity = escape(_("Next activity:"))
    overdue = escape(_("overdue"))
    overdue = f'<span class="sf-overdue-label">{overdue}</span>'
    missing = escape(_("No activity planned"))
    missing = f'<div class="sf-card-activity is-missing">{missing}</div>'
    progress = escape(_("Onboarding progress"))
    onboarding = _("Onboarding %(done)s/%(total)s")

    def part(deal) -> str:
        if deal.status == "open":
            if not deal.card_activity_due:
                return missing
            late = deal.card_activity_overdue
            return (
                f'<div class="sf-card-activity{" is-overdue" if late else ""}">'
                f'<span class="visually-hidden">{next_activity}</span>'
                f'<span class="sf-card-activity-title">{escape(deal.next_activity_title)}</span>'
                f'<span class="sf-card-activity-due">{overdue if late else ""}'
                f'<time datetime="{escape(deal.card_activity_due_iso)}">{escape(deal.card_activity_due)}</time></span>'
                f"</div>"
            )
        if deal.status == "won" and deal.onboarding_total:
            done, total = deal.onboarding_done, deal.onboarding_total
            return (
                f'<div class="sf-card-onboarding{" is-complete" if done == total else ""}" title="{progress}">'
                f'<span>{onboarding % {"done": escape(done), "total": escape(total)}}</span>'
                f'<span class="sf-progress" aria-hidden="true"><span style="width: {deal.card_onboarding_percent}%"></span></span>'
                f"</div>"
            )
        return ""

    return part


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


def deal_panel(*, request, deal, can_change) -> str:
    from .views import deal_panel_context

    return render_to_string("activities/_deal_panel.html", deal_panel_context(request, deal, can_change), request)


def lead_panel(*, request, lead, can_change) -> str:
    from .views import lead_panel_context

    return render_to_string("activities/_lead_panel.html", lead_panel_context(request, lead, can_change), request)


def register() -> None:
    extensions.register_card_annotation("next_activity_title", lambda: _next_open("title"))
    extensions.register_card_annotation("next_activity_due", lambda: _next_open("due_at"))
    extensions.register_card_annotation("next_activity_kind", lambda: _next_open("kind"))
    extensions.register_card_annotation("onboarding_total", lambda: _onboarding_count(None))
    extensions.register_card_annotation("onboarding_done", lambda: _onboarding_count(True))
    extensions.register_card_part("activities", card_part)
    extensions.register_card_presenter("activities", present_cards)
    extensions.register_timeline_source("activities", timeline_entries)
    extensions.register_deal_panel("activities", deal_panel)
    extensions.register_lead_panel("activities", lead_panel)
