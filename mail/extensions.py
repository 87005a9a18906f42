"""What this app adds to the pipeline's pages, registered in MailConfig.ready: e-mail threads on
the timelines of deals, people and organisations; the mail panel (compose) on the deal and person
pages; and what merges, exports and erasures of people do with mail."""
from django.template.loader import render_to_string
from django.urls import reverse

from pipeline import extensions
from pipeline.extensions import TimelineEntry

from . import directory, selectors

DEAL_TIMELINE_THREADS = 100


def _entries(threads) -> list[TimelineEntry]:
    return [TimelineEntry(at=t.last_at, kind="mail", row=t, template="mail/_timeline_thread.html", order=4) for t in threads]


def deal_timeline_entries(*, deal, user=None) -> list[TimelineEntry]:
    if user is None:
        return []
    return _entries(selectors.threads_on(user, deal=deal, limit=DEAL_TIMELINE_THREADS))


def person_timeline_entries(*, person, user, limit: int) -> list[TimelineEntry]:
    return _entries(selectors.threads_on(user, person=person, limit=limit))


def organization_timeline_entries(*, organization, user, limit: int) -> list[TimelineEntry]:
    return _entries(selectors.threads_on(user, organization=organization, limit=limit))


def deal_panel(*, request, deal, can_change) -> str:
    if not can_change:
        return ""
    from activities.models import ActivityKind

    meetings = list(deal.activities.filter(kind=ActivityKind.MEETING, done_at__isnull=True).select_related("invitation").order_by("due_at", "pk"))
    return render_to_string(
        "mail/_compose_panel.html", {"compose_url": reverse("mail:deal_compose", args=[deal.pk]), "meetings": meetings}, request,
    )


def person_panel(*, request, person, can_change) -> str:
    if not can_change:
        return ""
    return render_to_string("mail/_compose_panel.html", {"compose_url": reverse("mail:person_compose", args=[person.pk])}, request)


def register() -> None:
    extensions.register_timeline_source("mail", deal_timeline_entries)
    extensions.register_person_timeline_source("mail", person_timeline_entries)
    extensions.register_organization_timeline_source("mail", organization_timeline_entries)
    extensions.register_deal_panel("mail", deal_panel)
    extensions.register_person_panel("mail", person_panel)
    extensions.register_merge_mover("mail", directory.merge_move)
    extensions.register_person_eraser("mail", directory.person_erase)
    extensions.register_person_exporter("mail", directory.person_export)
