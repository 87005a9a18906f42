"""What this app adds to the pipeline's pages and acts, registered in AttachmentsConfig.ready
through pipeline.extensions (the pipeline app never imports this one): the files panel of the
deal, organisation and person pages, uploads and deletions in their timelines, and files in
merges, data exports and erasures."""
from django.db.models import Q
from django.template.loader import render_to_string

from pipeline import extensions
from pipeline.extensions import TimelineEntry

from . import directory, selectors

TIMELINE_TEMPLATE = "attachments/_timeline.html"


def _panel(request, subject: dict, can_change: bool) -> str:
    from .views import PANEL, panel_context

    return render_to_string(PANEL, panel_context(request, subject, can_change), request)


def deal_panel(*, request, deal, can_change) -> str:
    return _panel(request, {"deal": deal}, can_change)


def organization_panel(*, request, organization, can_change) -> str:
    return _panel(request, {"organization": organization}, can_change)


def person_panel(*, request, person, can_change) -> str:
    return _panel(request, {"person": person}, can_change)


def _entries(rows, *, about_of=None) -> list[TimelineEntry]:
    entries = []
    for row in rows:
        about = about_of(row) if about_of else None
        entries.append(TimelineEntry(at=row.uploaded_at, kind="file", row=row, template=TIMELINE_TEMPLATE, order=4,
                                     extra={"deleted": False, "about": about}))
        if row.deleted_at:
            entries.append(TimelineEntry(at=row.deleted_at, kind="file_deleted", row=row, template=TIMELINE_TEMPLATE,
                                         order=4, extra={"deleted": True, "about": about}))
    return entries


def timeline_entries(*, deal, user=None) -> list[TimelineEntry]:
    """Files added to the deal, and those deleted (when, by whom)."""
    return _entries(deal.attachments.select_related("uploaded_by", "deleted_by"))


def record_timeline_entries(*, user, organization=None, person=None, limit: int) -> list[TimelineEntry]:
    """The newest `limit` files added (and deleted) that the user sees on an organisation (also on
    its people and deals) or a person: one query."""
    if organization is not None:
        about = Q(organization=organization) | Q(person__organization=organization) | Q(deal__organization=organization)
    else:
        about = Q(person=person)
    rows = list(
        selectors.visible_attachments(user, deleted=True).filter(about)
        .select_related("uploaded_by", "deleted_by", "deal", "person").order_by("-uploaded_at", "-pk")[:limit]
    )

    def about_of(row):
        if organization is None:
            return None
        return row.deal if row.deal_id else row.person if row.person_id else None

    return _entries(rows, about_of=about_of)


def register() -> None:
    extensions.register_deal_panel("attachments", deal_panel)
    extensions.register_organization_panel("attachments", organization_panel)
    extensions.register_person_panel("attachments", person_panel)
    extensions.register_timeline_source("attachments", timeline_entries)
    extensions.register_organization_timeline_source("attachments", record_timeline_entries)
    extensions.register_person_timeline_source("attachments", record_timeline_entries)
    extensions.register_merge_mover("attachments", directory.merge_move)
    extensions.register_person_eraser("attachments", directory.person_erase)
    extensions.register_person_exporter("attachments", directory.person_export)
