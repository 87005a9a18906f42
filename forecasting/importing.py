"""Import deals with their history from another CRM (two CSV files), all or nothing.

DEALS.csv: external_id,title,lead,owner,amount,currency,created_at,expected_close,status,closed_at,lost_reason
EVENTS.csv: external_id,at,field,old,new  (field: stage, amount or expected_close)

Every row is checked first; any row that does not make sense is reported with its file, line
number and reason, and nothing is written. Otherwise everything is written in one transaction
with the bulk writers of `pipeline.events`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts import services as user_services
from exports.services import unneutralise
from accounts.models import Role
from pipeline import events, services
from pipeline.exceptions import PipelineError
from pipeline.models import DealField, DealStatus, ForecastCategory, LostReason, Organization, Pipeline, StageKind
from pipeline.matching import organizations_keys_write

DEAL_COLUMNS = [
    "external_id",
    "title",
    "lead",
    "owner",
    "amount",
    "currency",
    "created_at",
    "expected_close",
    "status",
    "closed_at",
    "lost_reason",
]
EVENT_COLUMNS = ["external_id", "at", "field", "old", "new"]
EVENT_FIELDS = {"stage", "amount", "expected_close"}
ACTOR_LABEL = "import"


class ImportFailed(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class ImportResult:
    deals: int = 0
    stage_changes: int = 0
    deal_changes: int = 0
    users_created: list[str] = field(default_factory=list)
    organizations_created: int = 0


@dataclass
class _Deal:
    line: int
    external_id: str
    title: str
    organization: str
    owner: str
    amount: Decimal | None
    currency: str
    created_at: datetime
    expected_close: date | None
    status: str
    closed_at: datetime | None
    lost_reason: str
    events: list = field(default_factory=list)


def _moment(text: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when it has no offset), aware."""
    text = text.strip()
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_timezone.utc)
    return value


def _read(path, columns, name, errors) -> list[tuple[int, dict]]:
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        errors.append(f"{name}: {exc.strerror}")
        return []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            errors.append(
                _("%(file)s line 1: missing columns %(columns)s") % {"file": name, "columns": ", ".join(missing)}
            )
            return []
        # A quote that an export put before text a spreadsheet would run as a formula comes off.
        return [(reader.line_num, {k: unneutralise((v or "").strip()) for k, v in row.items() if k}) for row in reader]


def import_history(deals_path, events_path, *, pipeline: Pipeline | None = None) -> ImportResult:
    """Check both files, then write everything in one transaction; raise ImportFailed otherwise."""
    pipeline = pipeline or Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
    errors: list[str] = []
    dname, ename = str(deals_path).rsplit("/", 1)[-1], str(events_path).rsplit("/", 1)[-1]
    deal_rows = _read(deals_path, DEAL_COLUMNS, dname, errors)
    event_rows = _read(events_path, EVENT_COLUMNS, ename, errors)
    if errors:
        raise ImportFailed(errors)
    if pipeline is None:
        raise ImportFailed([_("There is no pipeline to import into.")])
    stages = {s.name: s for s in pipeline.stages.order_by("position", "pk")}
    first_stage = next(iter(stages.values()), None)
    won_stage = next((s for s in stages.values() if s.kind == StageKind.WON), None)
    now = timezone.now()

    deals: dict[str, _Deal] = {}
    existing = set(
        pipeline.deals.filter(external_id__in=[r["external_id"] for _, r in deal_rows if r["external_id"]]).values_list(
            "external_id", flat=True
        )
    )
    for line, r in deal_rows:
        where = f"{dname} line {line}"
        problems = []
        ext = r["external_id"]
        if not ext:
            problems.append(_("external_id is empty"))
        elif ext in deals:
            problems.append(
                _("external_id %(id)s appears twice (first on line %(line)s)") % {"id": ext, "line": deals[ext].line}
            )
        elif ext in existing:
            problems.append(_("a deal with external_id %(id)s was already imported") % {"id": ext})
        if not r["title"]:
            problems.append(_("title is empty"))
        if not r["lead"]:
            problems.append(_("lead is empty"))
        if not r["owner"]:
            problems.append(_("owner is empty"))
        amount = None
        try:
            amount = services.money_clean(r["amount"])
        except PipelineError as exc:
            problems.append(str(exc.message))
        currency = ""
        try:
            currency = services.currency_clean(r["currency"])
        except PipelineError as exc:
            problems.append(str(exc.message))
        created = closed = expected = None
        try:
            created = _moment(r["created_at"])
            if created > now:
                problems.append(_("created_at lies in the future"))
        except ValueError:
            problems.append(_("created_at “%(v)s” is not an ISO date") % {"v": r["created_at"]})
        if r["expected_close"]:
            try:
                expected = date.fromisoformat(r["expected_close"])
            except ValueError:
                problems.append(_("expected_close “%(v)s” is not an ISO date") % {"v": r["expected_close"]})
        status = r["status"].lower()
        if status not in DealStatus.values:
            problems.append(_("status “%(v)s” is not open, won or lost") % {"v": r["status"]})
        if r["closed_at"]:
            try:
                closed = _moment(r["closed_at"])
            except ValueError:
                problems.append(_("closed_at “%(v)s” is not an ISO date") % {"v": r["closed_at"]})
        if status in (DealStatus.WON, DealStatus.LOST) and not r["closed_at"]:
            problems.append(_("a %(status)s deal needs closed_at") % {"status": status})
        if status == DealStatus.OPEN and r["closed_at"]:
            problems.append(_("an open deal has no closed_at"))
        if status == DealStatus.LOST and not r["lost_reason"]:
            problems.append(_("a lost deal needs a lost_reason"))
        if created and closed and closed.date() < created.date():
            problems.append(_("closed_at lies before created_at"))
        if closed and closed > now:
            problems.append(_("closed_at lies in the future"))
        if problems:
            errors.extend(f"{where}: {p}" for p in problems)
            if ext and ext not in deals:
                deals[ext] = None  # known, so that its events are not reported as orphans
            continue
        deals[ext] = _Deal(
            line,
            ext,
            r["title"],
            r["lead"],
            r["owner"],
            amount,
            currency,
            created,
            expected,
            status,
            closed,
            r["lost_reason"],
        )

    for line, r in event_rows:
        where = f"{ename} line {line}"
        ext = r["external_id"]
        if ext not in deals:
            errors.append(
                f"{where}: " + _("no deal with external_id “%(id)s” in %(file)s") % {"id": ext, "file": dname}
            )
            continue
        # A deal whose own row was refused still has its events checked, so that one run reports
        # every problem of both files (not the events' problems only on the next run).
        deal = deals[ext]
        try:
            at = _moment(r["at"])
        except ValueError:
            errors.append(f"{where}: " + _("at “%(v)s” is not an ISO date and time") % {"v": r["at"]})
            continue
        kind = r["field"]
        problems = []
        if kind not in EVENT_FIELDS:
            problems.append(_("field “%(v)s” is not stage, amount or expected_close") % {"v": kind})
        elif kind == "stage":
            if r["new"] not in stages:
                problems.append(
                    _("“%(v)s” is not a stage of %(pipeline)s") % {"v": r["new"], "pipeline": pipeline.name}
                )
            if r["old"] and r["old"] not in stages:
                problems.append(
                    _("“%(v)s” is not a stage of %(pipeline)s") % {"v": r["old"], "pipeline": pipeline.name}
                )
        elif kind == "amount":
            for value in (r["old"], r["new"]):
                try:
                    services.money_clean(value)
                except PipelineError as exc:
                    problems.append(str(exc.message))
        else:
            for value in (r["old"], r["new"]):
                if value:
                    try:
                        date.fromisoformat(value)
                    except ValueError:
                        problems.append(_("“%(v)s” is not an ISO date") % {"v": value})
        if deal is not None and at.date() < deal.created_at.date():
            problems.append(_("the event lies before the deal was created"))
        if deal is not None and deal.closed_at and at.date() > deal.closed_at.date():
            problems.append(_("the event lies after the deal was closed"))
        if at > now:
            problems.append(_("the event lies in the future"))
        if problems:
            errors.extend(f"{where}: {p}" for p in problems)
            continue
        if deal is not None:
            deal.events.append((at, line, kind, r["old"], r["new"]))

    plans = []
    for deal in deals.values():
        if deal is None:
            continue
        plan = _plan(deal, stages, first_stage, won_stage, dname, ename, errors)
        if plan:
            plans.append(plan)
    if errors:
        raise ImportFailed(errors)
    return _write(plans, pipeline)


def _plan(deal: _Deal, stages, first_stage, won_stage, dname, ename, errors):
    """The deal's rows: its stage path, its field changes and its final state, checked."""
    deal.events.sort(key=lambda e: (e[0], e[1]))
    path, changes = [], []
    current = None
    failed = False
    for at, line, kind, old, new in deal.events:
        if kind == "stage":
            if current is None and old:
                errors.append(f"{ename} line {line}: " + _("the first stage event needs an empty old value"))
                failed = True
            elif current is not None and old != current.name:
                errors.append(
                    f"{ename} line {line}: "
                    + _("old stage “%(old)s” does not match the stage before, “%(cur)s”")
                    % {"old": old, "cur": current.name}
                )
                failed = True
            current = stages[new]
            path.append((at, current))
        else:
            changes.append((at, kind, old, new, line))
    if failed:
        return None
    if not path:
        path.append((deal.created_at, first_stage))
    final = path[-1][1]
    if deal.status != DealStatus.WON and final.kind == StageKind.WON:
        errors.append(
            f"{dname} line {deal.line}: " + _("the stage history ends won but the status is %(s)s") % {"s": deal.status}
        )
        return None
    if deal.status == DealStatus.WON and final.kind != StageKind.WON:
        if won_stage is None:
            errors.append(f"{dname} line {deal.line}: " + _("the pipeline has no won stage"))
            return None
        path.append((max(deal.closed_at, path[-1][0]), won_stage))
    for field_name, current_value in (("amount", deal.amount), ("expected_close", deal.expected_close)):
        last = [c for c in changes if c[1] == field_name]
        if last:
            new = last[-1][3]
            value = services.money_clean(new) if field_name == "amount" else (date.fromisoformat(new) if new else None)
            if value != current_value:
                errors.append(
                    f"{ename} line {last[-1][4]}: "
                    + _("the last %(field)s change (%(new)s) differs from the deal's %(field)s in %(file)s")
                    % {"field": field_name, "new": new or "—", "file": dname}
                )
                return None
    return deal, path, changes


def _write(plans, pipeline: Pipeline) -> ImportResult:
    User = get_user_model()
    result = ImportResult()
    with transaction.atomic():
        usernames = {deal.owner for deal, _, _ in plans}
        users = {u.username: u for u in User.objects.filter(username__in=usernames)}
        taken = taken_usernames()
        for name in sorted(usernames - set(users)):
            # An owner the file names by full name or e-mail gets a username that can sign in.
            valid = name if re.fullmatch(r"[\w.+-]{1,150}", name) and name.casefold() not in taken else None
            if valid:
                taken.add(valid.casefold())
            user = inactive_owner_create(username=valid or username_for(name, taken), text=name)
            users[name] = user
            result.users_created.append(user.username)
        organization_names = {deal.organization for deal, _, _ in plans}
        organizations = {}
        for organization in Organization.objects.filter(name__in=organization_names).order_by("pk"):
            organizations.setdefault(organization.name, organization)
        new_organizations = [Organization(name=name, owner=None) for name in sorted(organization_names - set(organizations))]
        for organization in Organization.objects.bulk_create(new_organizations):
            organizations[organization.name] = organization
        organizations_keys_write(new_organizations, new=True)  # found by the duplicate suggestions
        result.organizations_created = len(new_organizations)
        reasons = {r.name: r for r in LostReason.objects.all()}
        for deal, _path, _changes in plans:
            if deal.status == DealStatus.LOST and deal.lost_reason not in reasons:
                reasons[deal.lost_reason] = LostReason.objects.create(name=deal.lost_reason, position=len(reasons))

        histories = [
            DealHistory(
                organization_id=organizations[deal.organization].pk,
                owner_id=users[deal.owner].pk,
                title=deal.title,
                amount=deal.amount,
                currency=deal.currency,
                created_at=deal.created_at,
                expected_close=deal.expected_close,
                status=deal.status,
                closed_at=deal.closed_at,
                lost_reason_id=reasons[deal.lost_reason].pk if deal.status == DealStatus.LOST else None,
                external_id=deal.external_id,
                path=path,
                changes=[(at, kind, old, new) for at, kind, old, new, _line in changes],
            )
            for deal, path, changes in plans
        ]
        written = deals_with_history_write(histories, pipeline=pipeline)
        result.deals = len(written.deals)
        result.stage_changes = written.stage_changes
        result.deal_changes = written.deal_changes
    return result


# --- The writer shared with the import wizard --------------------------------------------------


def username_for(text: str, taken: set[str]) -> str:
    """A valid, unused username for an owner named in a file: "Anna Schmidt" → "anna.schmidt",
    "anna@example.com" → "anna"; letters, digits and . _ - only (Django's username rule)."""
    raw = (text or "").strip()
    if "@" in raw:
        raw = raw.split("@", 1)[0]
    base = slugify(raw.replace(".", " ")).replace("-", ".")[:140] or "user"
    candidate, n = base, 2
    while candidate.casefold() in taken:
        candidate, n = f"{base}{n}", n + 1
    taken.add(candidate.casefold())
    return candidate


def taken_usernames() -> set[str]:
    return {name.casefold() for name in get_user_model().objects.values_list("username", flat=True)}


def inactive_owner_create(*, username: str, text: str, actor=None, actor_label: str = ACTOR_LABEL):
    """A rep for an owner the file names who has no account here: inactive and without a password,
    for an admin to invite (activate and give a password); its creation is in the audit trail."""
    email = text if "@" in text else ""
    first, _sep, last = ("", "", "") if email else text.strip().rpartition(" ")
    user, _password, _generated = user_services.user_create(
        username=username, role=Role.REP, email=email, actor=actor, actor_label=actor_label, unusable_password=True,
    )
    user.first_name, user.last_name = (first, last) if first else (last, "")
    user.is_active = False
    user.save(update_fields=["first_name", "last_name", "is_active"])
    return user


@dataclass
class DealHistory:
    """One deal as the other CRM knew it: its final state and the stage path that led there.

    `path` lists (when, stage) from the stage it was created in to the stage it is in now (a won
    deal ends in a won stage; a lost deal ends in the stage it was lost from, and `closed_at` is
    when it was lost). `changes` lists past field changes as (when, "amount"|"expected_close",
    old text, new text). Everything is checked by the caller."""

    organization_id: int
    owner_id: int
    title: str
    status: str
    created_at: datetime
    path: list
    amount: Decimal | None = None
    currency: str = ""
    expected_close: date | None = None
    closed_at: datetime | None = None
    lost_reason_id: int | None = None
    external_id: str = ""
    next_step: str = ""
    probability: int | None = None
    changes: list = field(default_factory=list)
    # Custom field values, checked by the caller (pipeline.custom_fields).
    custom: dict = field(default_factory=dict)


@dataclass
class HistoryWritten:
    deals: list
    stage_changes: int = 0
    deal_changes: int = 0


def deals_with_history_write(
    histories: list[DealHistory], *, pipeline: Pipeline, actor=None, actor_label: str = ACTOR_LABEL
) -> HistoryWritten:
    """Create the deals in their final state and write their past with the bulk writers of
    `pipeline.events` (created → each stage → won or lost, at the file's times), so that forecasts,
    time in stage and win rates see the real past. The caller holds the transaction."""
    actor_id = getattr(actor, "pk", None)
    rows = []
    for deal in histories:
        final_at, final_stage = deal.path[-1]
        closed_at = None
        if deal.status == DealStatus.WON:
            closed_at = final_at
        elif deal.status == DealStatus.LOST:
            closed_at = max(deal.closed_at, final_at)
        if deal.status == DealStatus.WON:
            category = ForecastCategory.CLOSED
        elif deal.status == DealStatus.LOST:
            category = ForecastCategory.OMITTED
        else:
            category = ForecastCategory.PIPELINE
        rows.append(
            {
                "pipeline_id": pipeline.pk,
                "stage_id": final_stage.pk,
                "organization_id": deal.organization_id,
                "title": deal.title[:200],
                "amount": deal.amount,
                "currency": deal.currency or services.currency_clean(""),
                "expected_close": deal.expected_close,
                "probability": deal.probability,
                "next_step": "" if deal.status != DealStatus.OPEN else (deal.next_step or "")[:200],
                "status": deal.status,
                "forecast_category": category,
                "owner_id": deal.owner_id,
                "lost_reason_id": deal.lost_reason_id if deal.status == DealStatus.LOST else None,
                "stage_entered_at": final_at,
                "closed_at": closed_at,
                "created_at": deal.created_at,
                "external_id": deal.external_id,
                "custom": deal.custom or {},
            }
        )
    created = services.deals_bulk_import(deals=rows)
    stage_rows, change_rows = [], []
    for obj, deal in zip(created, histories):
        previous, status, since = None, "", None
        for at, stage in deal.path:
            to_status = DealStatus.WON if stage.kind == StageKind.WON else DealStatus.OPEN
            stage_rows.append(
                events.StageChangeEvent(
                    deal_id=obj.pk,
                    from_stage_id=previous.pk if previous else None,
                    to_stage_id=stage.pk,
                    from_status=status,
                    to_status=to_status,
                    at=at,
                    actor_id=actor_id,
                    actor_label=actor_label,
                    previous_since=since,
                )
            )
            previous, status, since = stage, to_status, at
        if deal.status == DealStatus.LOST:
            stage_rows.append(
                events.StageChangeEvent(
                    deal_id=obj.pk,
                    from_stage_id=previous.pk,
                    to_stage_id=previous.pk,
                    from_status=status,
                    to_status=DealStatus.LOST,
                    at=obj.closed_at,
                    actor_id=actor_id,
                    actor_label=actor_label,
                    previous_since=since,
                    lost_reason_id=obj.lost_reason_id,
                )
            )
        for at, kind, old, new in deal.changes:
            field_name = DealField.AMOUNT if kind == "amount" else DealField.EXPECTED_CLOSE
            change_rows.append(
                events.DealChangeEvent(
                    deal_id=obj.pk,
                    field=field_name,
                    old_value=old,
                    new_value=new,
                    at=at,
                    actor_id=actor_id,
                    actor_label=actor_label,
                )
            )
    written = HistoryWritten(deals=created)
    written.stage_changes = events.stage_changes_bulk_record(stage_rows)
    written.deal_changes = events.deal_changes_bulk_record(change_rows)
    services.customers_since_mark({obj.organization_id for obj in created if obj.status == DealStatus.WON})
    return written
