"""Files in merges, data exports and erasures (pipeline.merging, pipeline.privacy), registered
through pipeline.extensions.

A person's export holds their files: what is known about each and, while it is stored, its
content (base64), so that the copy is complete. Their erasure removes the files about them from
the storage at once (no grace period: the request is the reason) and replaces the names in the
file rows and in their audit rows; when and by whom stays, so the history keeps its shape."""
import base64

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import ConfigChange
from accounts.services import config_changes_scrub
from pipeline.models import MergedKind

from . import content, services
from .models import Attachment

ERASED_VALUE = "—"


def merge_move(*, kind: str, source, target, actor=None) -> dict[str, int]:
    """The files on the merged organisation or person now belong to the survivor."""
    field = "organization" if kind == MergedKind.ORGANIZATION else "person"
    moved = Attachment.objects.filter(**{field: source}).update(**{field: target})
    return {Attachment._meta.label_lower: moved} if moved else {}


def person_erase(*, person) -> dict[str, int]:
    rows = list(Attachment.objects.filter(person=person))
    if not rows:
        return {}
    with translation.override(settings.LANGUAGE_CODE):  # stored text: the installation's language
        erased = _("(erased on request)")
    now = timezone.now()
    content_ids = {row.content_id for row in rows if row.content_id}
    Attachment.objects.filter(pk__in=[row.pk for row in rows]).update(name=erased, content=None, purged_at=now)
    Attachment.objects.filter(pk__in=[row.pk for row in rows], deleted_at__isnull=True).update(deleted_at=now)
    services.contents_release(content_ids)
    attachment_type = ContentType.objects.get_for_model(Attachment)
    history = list(
        ConfigChange.objects.annotate(changes_text=Cast("changes", TextField()))
        .filter(content_type=attachment_type, object_id__in=[str(row.pk) for row in rows])
    )
    for row in history:
        row.changes = {
            field: [ERASED_VALUE if v is not None else None for v in values] if field == "name" and isinstance(values, list) else values
            for field, values in row.changes.items()
        }
        row.object_repr = erased
    config_changes_scrub(rows=history)
    return {Attachment._meta.label_lower: len(rows)}


def person_export(*, person) -> dict[str, list[dict]]:
    """Every file about the person, with its content while it is stored."""
    rows = Attachment.objects.filter(person=person).select_related("content", "uploaded_by", "deleted_by").order_by("uploaded_at", "pk")
    storage = content.storage()
    files = []
    for row in rows:
        item = {
            "id": row.pk, "name": row.name, "size": row.size, "type": row.mime_type, "source": row.source,
            "uploaded_by": str(row.uploaded_by) if row.uploaded_by_id else None, "uploaded_at": row.uploaded_at.isoformat(),
            "deleted_at": row.deleted_at.isoformat() if row.deleted_at else None,
            "sha256": row.content.sha256 if row.content_id else None,
        }
        if row.content_id and not row.content.is_quarantined:
            with storage.open(row.content.storage_name, "rb") as stream:
                item["content_base64"] = base64.b64encode(stream.read()).decode("ascii")
        files.append(item)
    return {"files": files} if files else {}
