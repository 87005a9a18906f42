"""Everything a user may see, in one download: a ZIP of CSV files, one per kind of record, or one
JSON document. For a backup, for moving on, and for moving in: the import wizard reads
organizations.csv and deals.csv back, and `import_history deals.csv events.csv` brings the deals
with their whole stage history.

The files are data, not reports: the column names are fixed (the wizard and `import_history`
recognise them in any language), dates are ISO 8601 in UTC, amounts are plain numbers with a
decimal point, a deal's status is open, won or lost, a country its ISO code and a user their
username. Text that a spreadsheet would run as a formula is prefixed with a quote in the CSV files
(which the wizard takes off again); the JSON document keeps every value as it is.

What a user may see is decided by the same selectors as every page: a rep gets their own and
shared records, a manager their team's, an admin everything.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Callable, Iterator

from django.db.models import Prefetch
from django.utils import timezone

from activities.selectors import visible_activities, visible_notes
from pipeline.models import PersonEmail, PersonPhone, StageChange
from pipeline.selectors import visible_deals, visible_organizations, visible_persons

from .services import neutralise

FORMAT = "stageflow-export"
VERSION = 1
CHUNK = 2000


def _text(value) -> str | int | float | None:
    """A value as the files write it: ISO dates in UTC, plain decimals, text as it is."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _username(user) -> str:
    return user.username if user is not None else ""


def deal_external_id(deal) -> str:
    """The id a deal is known by in the files: the previous CRM's id it came with, or its own."""
    return deal.external_id or f"stageflow-{deal.pk}"


def _organizations(user) -> Iterator[dict]:
    rows = (visible_organizations(user).select_related("owner", "main_contact").order_by("pk"))
    for o in rows.iterator(chunk_size=CHUNK):
        contact = o.main_contact
        yield {
            "id": o.pk, "name": o.name, "industry": o.industry, "company_size": o.company_size, "country": o.country,
            "website": o.website, "phone": o.phone, "street": o.street, "postal_code": o.postal_code, "city": o.city,
            "source": o.source, "owner": _username(o.owner), "contact_name": contact.name if contact else "",
            "contact_email": contact.email if contact else "", "contact_phone": contact.phone if contact else "",
            "customer_since": o.customer_since, "created_at": o.created_at,
        }


def _people(user) -> Iterator[dict]:
    rows = (
        visible_persons(user).select_related("organization", "owner").order_by("pk")
        .prefetch_related(Prefetch("emails", queryset=PersonEmail.objects.order_by("position", "pk")),
                          Prefetch("phones", queryset=PersonPhone.objects.order_by("position", "pk")))
    )
    for p in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": p.pk, "name": p.name, "organization_id": p.organization_id,
            "organization": p.organization.name if p.organization else "", "job_title": p.job_title,
            "emails": " ; ".join(e.address for e in p.emails.all()),
            "phones": " ; ".join(ph.number for ph in p.phones.all()),
            "language": p.language, "consent": p.consent, "owner": _username(p.owner), "created_at": p.created_at,
        }


def _deals(user) -> Iterator[dict]:
    rows = (visible_deals(user).select_related("organization", "pipeline", "stage", "owner", "lost_reason")
            .order_by("pk"))
    for d in rows.iterator(chunk_size=CHUNK):
        yield {
            "external_id": deal_external_id(d), "id": d.pk, "title": d.title, "lead": d.organization.name,
            "organization_id": d.organization_id, "pipeline": d.pipeline.name, "stage": d.stage.name,
            "status": d.status, "amount": d.amount, "currency": d.currency, "expected_close": d.expected_close,
            "created_at": d.created_at, "closed_at": d.closed_at,
            "lost_reason": d.lost_reason.name if d.lost_reason else "", "owner": _username(d.owner),
            "next_step": d.next_step, "probability": d.probability,
        }


def _events(user) -> Iterator[dict]:
    """The stage history in import_history's events format: each move between two stages (the
    outcome itself is in deals.csv: status and closed_at)."""
    rows = (
        StageChange.objects.filter(deal__in=visible_deals(user).values("pk"))
        .select_related("from_stage", "to_stage", "deal").order_by("deal_id", "at", "pk")
    )
    for c in rows.iterator(chunk_size=CHUNK):
        if c.from_stage_id == c.to_stage_id and c.from_stage_id is not None:
            continue  # lost or reopened in the same stage: an outcome, not a move
        yield {
            "external_id": deal_external_id(c.deal), "at": c.at, "field": "stage",
            "old": c.from_stage.name if c.from_stage else "", "new": c.to_stage.name,
        }


def _activities(user) -> Iterator[dict]:
    rows = visible_activities(user).select_related("owner", "deal").order_by("pk")
    for a in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": a.pk, "kind": a.kind, "title": a.title, "due_at": a.due_at, "done_at": a.done_at,
            "cancelled": a.cancelled, "owner": _username(a.owner),
            "deal_external_id": deal_external_id(a.deal) if a.deal else "", "organization_id": a.organization_id,
            "person_id": a.person_id, "note": a.note,
        }


def _notes(user) -> Iterator[dict]:
    rows = visible_notes(user).select_related("author", "deal").order_by("pk")
    for n in rows.iterator(chunk_size=CHUNK):
        yield {
            "id": n.pk, "created_at": n.created_at, "author": _username(n.author),
            "deal_external_id": deal_external_id(n.deal) if n.deal else "", "organization_id": n.organization_id,
            "person_id": n.person_id, "body": n.body,
        }


# name → (columns, rows): the files of the ZIP and the lists of the JSON document, in this order.
KINDS: dict[str, tuple[list[str], Callable]] = {
    "organizations": (["id", "name", "industry", "company_size", "country", "website", "phone", "street", "postal_code",
                       "city", "source", "owner", "contact_name", "contact_email", "contact_phone", "customer_since",
                       "created_at"], _organizations),
    "people": (["id", "name", "organization_id", "organization", "job_title", "emails", "phones", "language",
                "consent", "owner", "created_at"], _people),
    "deals": (["external_id", "id", "title", "lead", "organization_id", "pipeline", "stage", "status", "amount",
               "currency", "expected_close", "created_at", "closed_at", "lost_reason", "owner", "next_step",
               "probability"], _deals),
    "events": (["external_id", "at", "field", "old", "new"], _events),
    "activities": (["id", "kind", "title", "due_at", "done_at", "cancelled", "owner", "deal_external_id",
                    "organization_id", "person_id", "note"], _activities),
    "notes": (["id", "created_at", "author", "deal_external_id", "organization_id", "person_id", "body"], _notes),
}


def _csv_cell(value) -> str:
    value = _text(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return neutralise(value) if isinstance(value, str) else str(value)


def everything_zip(user, target) -> None:
    """Write the ZIP into the binary file `target`, one CSV per kind (UTF-8 with a byte order mark,
    so that spreadsheet programs read the umlauts right)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, (columns, rows) in KINDS.items():
            with archive.open(f"{name}.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                writer = csv.writer(text)
                writer.writerow(columns)
                for row in rows(user):
                    writer.writerow([_csv_cell(row[column]) for column in columns])
                text.flush()
                text.detach()


def everything_json(user) -> Iterator[str]:
    """The JSON document, in pieces: {"format", "version", "exported_at", "exported_by", and a
    list per kind}. Streamed, so that a large installation is never held in memory whole."""
    head = {"format": FORMAT, "version": VERSION, "exported_at": _text(timezone.now()), "exported_by": user.username}
    yield json.dumps(head, ensure_ascii=False)[:-1]
    for name, (_columns, rows) in KINDS.items():
        yield f', "{name}": ['
        for index, row in enumerate(rows(user)):
            yield ("," if index else "") + json.dumps({k: _text(v) for k, v in row.items()}, ensure_ascii=False)
        yield "]"
    yield "}\n"
