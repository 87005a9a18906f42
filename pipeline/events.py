"""The only writers of deal history. One function per kind of event; rows are never updated.

Each kind has a single-row writer (used by the services) and a bulk writer (used by imports and
the demo data, which write thousands of past events at once). Both build rows the same way.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from .models import Deal, DealChange, DealField, LostReason, Stage, StageChange


BULK_BATCH_SIZE = 2000


def _time_in_previous(*, at: datetime, previous_since: datetime | None, from_stage) -> timedelta | None:
    time_in_previous = (at - previous_since) if (previous_since and from_stage) else None
    if time_in_previous is not None and time_in_previous.total_seconds() < 0:
        return None
    return time_in_previous


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
    time_in_previous = _time_in_previous(at=at, previous_since=previous_since, from_stage=from_stage)
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
    *, deal: Deal, changes: list[tuple[str, str, str]], actor=None, actor_label: str = "", at=None, note: str = ""
) -> list[DealChange]:
    """Record field changes as (field, old, new) triples, all stamped with the same time and note."""
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
            note=note[:300],
        )
        for field, old, new in changes
    ]
    return DealChange.objects.bulk_create(rows)


def deal_custom_changes_record(
    *, deal: Deal, changes: list[tuple[str, str, str, str]], actor=None, actor_label: str = "", at=None, note: str = ""
) -> list[DealChange]:
    """Record custom field changes as (key, label, old text, new text): the key and the label the
    field had then, so that the row reads the same after the field is renamed or removed."""
    at = at or timezone.now()
    rows = [
        DealChange(
            deal=deal,
            field=DealField.CUSTOM,
            field_key=key[:50],
            field_label=label[:100],
            old_value=old[:200],
            new_value=new[:200],
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label,
            at=at,
            note=note[:300],
        )
        for key, label, old, new in changes
    ]
    return DealChange.objects.bulk_create(rows)


@dataclass(frozen=True)
class StageChangeEvent:
    """One past stage or status change, for `stage_changes_bulk_record`."""

    deal_id: int
    from_stage_id: int | None
    to_stage_id: int
    from_status: str
    to_status: str
    at: datetime
    actor_id: int | None = None
    actor_label: str = ""
    previous_since: datetime | None = None
    lost_reason_id: int | None = None


def stage_changes_bulk_record(events: Iterable[StageChangeEvent], *, batch_size: int = BULK_BATCH_SIZE) -> int:
    """Write many past stage changes at once (imports, demo data); returns how many were written.

    The rows are the ones `stage_change_record` would write, with the same time-in-stage rule;
    the caller is responsible for the deals themselves matching the last event.
    """
    rows = [
        StageChange(
            deal_id=e.deal_id,
            from_stage_id=e.from_stage_id,
            to_stage_id=e.to_stage_id,
            from_status=e.from_status,
            to_status=e.to_status,
            actor_id=e.actor_id,
            actor_label=e.actor_label,
            at=e.at,
            time_in_previous=_time_in_previous(at=e.at, previous_since=e.previous_since, from_stage=e.from_stage_id),
            lost_reason_id=e.lost_reason_id,
        )
        for e in events
    ]
    StageChange.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)


@dataclass(frozen=True)
class DealChangeEvent:
    """One past field change, for `deal_changes_bulk_record`. Values are text, as the services write them."""

    deal_id: int
    field: str
    old_value: str
    new_value: str
    at: datetime
    actor_id: int | None = None
    actor_label: str = ""
    note: str = ""


def deal_changes_bulk_record(events: Iterable[DealChangeEvent], *, batch_size: int = BULK_BATCH_SIZE) -> int:
    """Write many field changes at once (imports, demo data, a merge); returns how many were written."""
    rows = [
        DealChange(
            deal_id=e.deal_id,
            field=e.field,
            old_value=e.old_value[:200],
            new_value=e.new_value[:200],
            actor_id=e.actor_id,
            actor_label=e.actor_label,
            at=e.at,
            note=e.note[:300],
        )
        for e in events
    ]
    DealChange.objects.bulk_create(rows, batch_size=batch_size)
    return len(rows)
