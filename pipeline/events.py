"""The only writers of deal history. One function per kind of event; rows are never updated."""
from datetime import datetime

from django.utils import timezone

from .models import Deal, DealChange, LostReason, Stage, StageChange


def stage_change_record(
    *,
    deal: Deal,
    from_stage: Stage | None,
    to_stage: Stage,
    from_status: str,
    to_status: str,
    actor=None,
    actor_label: str = "",
    at: datetime | None = None,
    previous_since: datetime | None = None,
    lost_reason: LostReason | None = None,
) -> StageChange:
    at = at or timezone.now()
    time_in_previous = (at - previous_since) if (previous_since and from_stage) else None
    if time_in_previous is not None and time_in_previous.total_seconds() < 0:
        time_in_previous = None
    return StageChange.objects.create(
        deal=deal,
        from_stage=from_stage,
        to_stage=to_stage,
        from_status=from_status,
        to_status=to_status,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label,
        at=at,
        time_in_previous=time_in_previous,
        lost_reason=lost_reason,
    )


def deal_changes_record(
    *, deal: Deal, changes: list[tuple[str, str, str]], actor=None, actor_label: str = "", at=None
) -> list[DealChange]:
    """Record field changes as (field, old, new) triples, all stamped with the same time."""
    at = at or timezone.now()
    rows = [
        DealChange(
            deal=deal,
            field=field,
            old_value=old[:200],
            new_value=new[:200],
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label,
            at=at,
        )
        for field, old, new in changes
    ]
    return DealChange.objects.bulk_create(rows)


# --- Bulk variants, for imports: the same rows, written in batches ---------------------------

BULK_BATCH_SIZE = 2000


def stage_changes_bulk_record(*, changes: list[dict], batch_size: int = BULK_BATCH_SIZE) -> int:
    """Write many StageChange rows at once. Each dict holds the model's fields by attname
    (deal_id, from_stage_id, to_stage_id, from_status, to_status, at, ...). Returns the count."""
    rows = [StageChange(**change) for change in changes]
    StageChange.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)


def deal_changes_bulk_record(*, changes: list[dict], batch_size: int = BULK_BATCH_SIZE) -> int:
    """Write many DealChange rows at once (dicts with deal_id, field, old_value, new_value, at, ...)."""
    rows = []
    for change in changes:
        change = dict(change)
        change["old_value"] = (change.get("old_value") or "")[:200]
        change["new_value"] = (change.get("new_value") or "")[:200]
        rows.append(DealChange(**change))
    DealChange.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)
