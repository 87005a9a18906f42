"""What this app does when organisations or people are merged, a person's data is exported, or
their personal data is erased (pipeline.merging, pipeline.privacy), registered in
ActivitiesConfig.ready through pipeline.extensions: the pipeline app never imports this one."""
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from pipeline.models import MergedKind

from .models import Activity, Note


def merge_move(*, kind: str, source, target, actor=None) -> dict[str, int]:
    """The activities and notes on the merged organisation or person now belong to the survivor."""
    field = "organization" if kind == MergedKind.ORGANIZATION else "person"
    return {
        Activity._meta.label_lower: Activity.objects.filter(**{field: source}).update(**{field: target}),
        Note._meta.label_lower: Note.objects.filter(**{field: source}).update(**{field: target}),
    }


def person_erase(*, person) -> dict[str, int]:
    """The text of the activities and notes about the person (those that point at them) is
    replaced; when and by whom they were done stays, so the history keeps its shape."""
    with translation.override(settings.LANGUAGE_CODE):  # stored text: the installation's language
        erased = _("(erased on request)")
    return {
        Activity._meta.label_lower: Activity.objects.filter(person=person).update(title=erased, note=""),
        Note._meta.label_lower: Note.objects.filter(person=person).update(body=erased),
    }


def person_export(*, person) -> dict[str, list[dict]]:
    """Every activity and note about the person, as JSON-ready dicts."""
    activities = Activity.objects.filter(person=person).select_related("owner", "done_by").order_by("due_at", "pk")
    notes = Note.objects.filter(person=person).select_related("author").order_by("created_at", "pk")
    return {
        "activities": [
            {
                "id": a.pk, "kind": a.kind, "title": a.title, "note": a.note, "due_at": a.due_at.isoformat(),
                "done_at": a.done_at.isoformat() if a.done_at else None, "cancelled": a.cancelled,
                "owner": str(a.owner), "deal_id": a.deal_id, "organization_id": a.organization_id,
                "created_at": a.created_at.isoformat(),
            }
            for a in activities
        ],
        "notes": [
            {
                "id": n.pk, "body": n.body, "author": str(n.author) if n.author_id else None, "deal_id": n.deal_id,
                "organization_id": n.organization_id, "created_at": n.created_at.isoformat(),
            }
            for n in notes
        ],
    }
