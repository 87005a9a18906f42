"""Every write to deals goes through these functions.

`deal_move` is the one owner of a deal's stage; `deal_mark_lost` and `deal_reopen` own its
status. Each runs in a transaction, locks the deal row, checks the optimistic version, applies
the rules of the transition table, writes history through `pipeline.events`, and records what
other apps must do about the change in the same transaction (`signals.deals_changed`, an outbox).
"""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import custom_fields, events
from .exceptions import MoveRefused, PipelineError, VersionConflict
from .models import (
    ContactRole, Deal, DealContact, DealField, DealStatus, ForecastCategory, LostReason, OpenStageTotal, Organization,
    Pipeline, Stage, StageKind, Transition,
)
from .signals import deals_changed

CENT = Decimal("0.01")


# --- Rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRules:
    amount: bool = False
    expected_close: bool = False
    contact: bool = False
    next_step: bool = False
    # The organisation's fit score on the ideal customer profile must reach this.
    min_fit_score: int | None = None
    # A person on the deal must have each of these roles (ContactRole ids).
    roles: frozenset = frozenset()
    # Keys of deal custom fields that must have a value.
    fields: tuple = ()

    @classmethod
    def from_transitions(cls, transitions) -> "EntryRules":
        rules = cls()
        for t in transitions:
            rules = cls(
                amount=rules.amount or t.requires_amount,
                expected_close=rules.expected_close or t.requires_expected_close,
                contact=rules.contact or t.requires_contact,
                next_step=rules.next_step or t.requires_next_step,
                min_fit_score=max(
                    (v for v in (rules.min_fit_score, t.min_fit_score) if v is not None), default=None
                ),
                roles=rules.roles | ({t.requires_role_id} if t.requires_role_id else set()),
                fields=tuple(dict.fromkeys([*rules.fields, *(t.requires_fields or [])])),
            )
        return rules

    def fit_refusal(self, *, stage: Stage, organization: Organization | None) -> str | None:
        """The message refusing entry to `stage` when the lead scores too low, else None."""
        if self.min_fit_score is None:
            return None
        score = organization.fit_score if organization is not None else None
        if score is not None and score >= self.min_fit_score:
            return None
        params = {"stage": str(stage), "min": self.min_fit_score, "score": score}
        if score is None:
            return _(
                "To enter “%(stage)s”, the lead must score at least %(min)s on the ideal customer profile "
                "(it has no score yet)."
            ) % params
        return _(
            "To enter “%(stage)s”, the lead must score at least %(min)s on the ideal customer profile "
            "(it scores %(score)s)."
        ) % params

    def missing(self, *, amount, expected_close, organization: Organization | None, next_step: str,
                deal_id: int | None = None, custom: dict | None = None) -> list[str]:
        missing = []
        if self.amount and (amount is None or amount <= 0):
            missing.append(_("an amount"))
        if self.expected_close and expected_close is None:
            missing.append(_("an expected close date"))
        contacts = _deal_contacts(deal_id) if (self.contact or self.roles) else []
        if self.contact and not (
            any(reachable for reachable, _role in contacts) or (organization is not None and organization.has_contact)
        ):
            missing.append(_("a contact person with e-mail or phone"))
        if self.roles:
            present = {role for _reachable, role in contacts}
            for role in ContactRole.objects.filter(pk__in=self.roles - present).order_by("position", "pk"):
                missing.append(_("a contact who is %(role)s") % {"role": role})
        if self.next_step and not (next_step or "").strip():
            missing.append(_("a next step"))
        if self.fields:
            missing += custom_fields.missing(keys=self.fields, custom=custom or {})
        return missing


def _deal_contacts(deal_id: int | None) -> list[tuple[bool, int | None]]:
    """(reachable by e-mail or phone, role id) of each person on the deal; one query."""
    if deal_id is None:
        return []
    return [
        (bool(email or phone), role_id)
        for email, phone, role_id in DealContact.objects.filter(deal_id=deal_id).values_list(
            "person__email", "person__phone", "role_id"
        )
    ]


def transition_find(*, from_stage: Stage, to_stage: Stage) -> Transition | None:
    """The row that allows from_stage → to_stage: a specific row wins over an any-stage row."""
    return (
        Transition.objects.filter(to_stage_id=to_stage.pk)
        .filter(Q(from_stage_id=from_stage.pk) | Q(from_stage__isnull=True))
        .order_by(F("from_stage").asc(nulls_last=True), "pk")
        .first()
    )


def transition_targets(stage_ids: list[int], transitions) -> dict[int, set[int]]:
    """For each of a pipeline's stages, the stages a deal there may move to, from the pipeline's
    (from_stage_id, to_stage_id) transition rows: a row from no stage allows the move from every
    stage, and no row moves a deal onto the stage it is in."""
    targets: dict[int, set[int]] = {pk: set() for pk in stage_ids}
    for from_id, to_id in transitions:
        for source in stage_ids if from_id is None else (from_id,):
            if source != to_id and source in targets:
                targets[source].add(to_id)
    return targets


def allowed_target_ids(*, pipeline: Pipeline) -> dict[int, set[int]]:
    """For each stage of the pipeline, the stages a deal may move to."""
    stage_ids = list(pipeline.stages.values_list("pk", flat=True))
    return transition_targets(
        stage_ids, Transition.objects.filter(pipeline=pipeline).values_list("from_stage_id", "to_stage_id")
    )


def entry_rules_for_new_deal(*, stage: Stage) -> EntryRules | None:
    """Rules for a deal created directly in `stage`; None when deals cannot start there."""
    transitions = list(Transition.objects.filter(to_stage=stage))
    any_row = [t for t in transitions if t.from_stage_id is None]
    if any_row:
        return EntryRules.from_transitions(any_row)
    first = stage.pipeline.stages.order_by("position", "pk").first()
    if first and first.pk == stage.pk:
        return EntryRules.from_transitions(transitions)
    if transitions:
        return EntryRules.from_transitions(transitions)
    return None


def _missing_message(stage: Stage, missing: list[str], *, staying: bool = False) -> str:
    if staying:  # a deal already in the stage whose fields change
        return _("A deal in “%(stage)s” needs %(needs)s.") % {
            "stage": str(stage), "needs": ", ".join(str(m) for m in missing)
        }
    if len(missing) == 1:
        needs = missing[0]
    else:
        needs = _("%(list)s and %(last)s") % {"list": ", ".join(missing[:-1]), "last": missing[-1]}
    return _("To enter “%(stage)s”, this deal needs %(needs)s.") % {"stage": str(stage), "needs": needs}


@dataclass(frozen=True)
class DealState:
    """What the entry rules look at: a deal's values as they would be after the change."""

    amount: Decimal | None = None
    expected_close: date | None = None
    organization: Organization | None = None
    next_step: str = ""
    # The deal's id when it exists: the entry rules may look at the people on it.
    deal_id: int | None = None
    custom: dict | None = None

    @classmethod
    def of(cls, deal: Deal, **changes) -> "DealState":
        values = {name: changes.get(name, getattr(deal, name, None)) for name in ("amount", "expected_close", "next_step")}
        organization = changes["organization"] if "organization" in changes else (deal.organization if deal.organization_id else None)
        custom = changes["custom"] if "custom" in changes else (deal.custom or {})
        return cls(
            organization=organization, deal_id=deal.pk, custom=custom, **{**values, "next_step": values["next_step"] or ""}
        )


def entry_rules(*, from_stage: Stage | None, to_stage: Stage) -> EntryRules:
    """The rules a deal must meet to be in `to_stage`, coming from `from_stage`: None for a new
    deal, `to_stage` itself for a deal whose fields change where it is, another stage for a move
    (the transition table must allow it). Refuses (MoveRefused) when deals cannot get there."""
    if from_stage is None:
        rules = entry_rules_for_new_deal(stage=to_stage)
        if rules is None:
            raise MoveRefused(_("New deals cannot start in “%(stage)s”.") % {"stage": str(to_stage)}, code="not_allowed")
        return rules
    if from_stage.pk == to_stage.pk:
        # A deal must keep meeting the entry rules of the stage it is in.
        return entry_rules_for_new_deal(stage=to_stage) or EntryRules()
    transition = transition_find(from_stage=from_stage, to_stage=to_stage)
    if transition is None:
        raise MoveRefused(
            _("Deals cannot move from “%(from)s” to “%(to)s” in this pipeline.")
            % {"from": str(from_stage), "to": str(to_stage)},
            code="not_allowed",
        )
    return EntryRules.from_transitions([transition])


def deal_entry_check(
    deal_state: DealState,
    from_stage: Stage | None,
    to_stage: Stage,
    *,
    rules: EntryRules | None = None,
    check_fit: bool = True,
) -> None:
    """The one decision whether a deal may be in `to_stage` (see `entry_rules` for `from_stage`):
    the transition table, the stage's entry requirements and the lead's fit score. Raises
    MoveRefused with the message to show; returns None when the deal may.

    `rules` saves the lookup when many deals enter the same stage (an import); `check_fit=False`
    for a deal that stays in its stage with the same lead, whose score may have changed since it
    entered (the profile changed), which must not block editing its other fields."""
    if rules is None:
        rules = entry_rules(from_stage=from_stage, to_stage=to_stage)
    missing = rules.missing(
        amount=deal_state.amount, expected_close=deal_state.expected_close, organization=deal_state.organization,
        next_step=deal_state.next_step, deal_id=deal_state.deal_id, custom=deal_state.custom,
    )
    if missing:
        staying = from_stage is not None and from_stage.pk == to_stage.pk
        raise MoveRefused(_missing_message(to_stage, missing, staying=staying), code="requirements")
    refusal = rules.fit_refusal(stage=to_stage, organization=deal_state.organization) if check_fit else None
    if refusal:
        raise MoveRefused(refusal, code="fit_score")


def _announce(deal: Deal, kind: str, *, past_changed: bool = True) -> None:
    """Record in the current transaction what other apps must do about the change (outbox)."""
    deals_changed.publish(
        pipeline_ids=[deal.pipeline_id], deal_ids=[deal.pk], kind=kind, past_changed=past_changed
    )


_LOCK_RELATIONS = ("stage", "organization", "pipeline")


def _lock(deal: Deal | int, expected_version: int | None) -> Deal:
    pk = deal.pk if isinstance(deal, Deal) else deal
    known = {}
    if isinstance(deal, Deal):
        known = {name: getattr(deal, name) for name in _LOCK_RELATIONS if Deal._meta.get_field(name).is_cached(deal)}
    if len(known) == len(_LOCK_RELATIONS):
        # The caller read the deal with its stage, lead and pipeline (a view after its permission
        # check): lock and read the row alone, one statement, and keep those objects wherever the
        # locked row still points at them. Everything the rules check on the deal comes from the
        # locked row.
        locked = Deal.objects.select_for_update().get(pk=pk)
        for name, related in known.items():
            if getattr(locked, f"{name}_id") == related.pk:
                setattr(locked, name, related)
    else:
        # Lock the deal row alone, then read it with its relations. A FOR UPDATE over a join is
        # wrong under concurrency on PostgreSQL: after waiting for a concurrent move, the database
        # re-checks the join against the stage row it read before waiting and, the stage having
        # changed, finds no row at all (tests/integration/test_concurrency.py). SQLite has no row
        # locks (Django drops FOR UPDATE there): its transactions start with BEGIN IMMEDIATE
        # (config.settings), which already holds the database's write lock.
        if connection.features.has_select_for_update:
            Deal.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True).get()
        locked = Deal.objects.select_related(*_LOCK_RELATIONS).get(pk=pk)
    if expected_version is not None and locked.version != expected_version:
        raise VersionConflict(
            _("Someone changed this deal in the meantime. It now shows its current state; please try again."),
            deal=locked,
        )
    return locked


def money_clean(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise PipelineError(_("“%(value)s” is not an amount.") % {"value": value}, code="invalid_amount")
    if amount < 0:
        raise PipelineError(_("An amount cannot be negative."), code="invalid_amount")
    if amount >= Decimal("1e12"):
        raise PipelineError(_("This amount is too large."), code="invalid_amount")
    return amount


def currency_clean(value: str | None, *, current: str | None = None) -> str:
    """One of the configured currencies (STAGEFLOW["CURRENCIES"], ISO 4217 codes); empty means the
    default. `current` is the currency a record already has: it may keep it after the list changed."""
    value = (value or settings.STAGEFLOW["DEFAULT_CURRENCY"]).strip().upper()
    if current and value == current:
        return value
    if len(value) != 3 or not (value.isascii() and value.isalpha()):
        raise PipelineError(_("“%(value)s” is not a currency code such as EUR.") % {"value": value}, code="invalid_currency")
    allowed = [code.upper() for code in settings.STAGEFLOW["CURRENCIES"]]
    if value not in allowed:
        raise PipelineError(
            _("“%(value)s” is not one of the currencies used here: %(allowed)s.") % {"value": value, "allowed": ", ".join(allowed)},
            code="invalid_currency",
        )
    return value


def customers_since_mark(organization_ids) -> None:
    """Set "customer since" on these organisations to the day their first deal was won (the
    earliest won deal's close), where it is empty or later: after a win or an import."""
    firsts = (
        Deal.objects.filter(organization_id__in=list(organization_ids), status=DealStatus.WON, closed_at__isnull=False)
        .values("organization_id").annotate(first=Min("closed_at")).values_list("organization_id", "first")
    )
    days = {organization_id: timezone.localdate(first) for organization_id, first in firsts}
    changed = []
    for organization in Organization.objects.filter(pk__in=list(days)).only("pk", "customer_since"):
        day = days[organization.pk]
        if organization.customer_since is None or organization.customer_since > day:
            organization.customer_since = day
            changed.append(organization)
    # One statement per batch, not one per organisation: an import marks thousands at once.
    Organization.objects.bulk_update(changed, ["customer_since"], batch_size=500)


def _close_fields(deal: Deal, *, status: str, at: datetime) -> tuple[list[str], list[tuple[str, str, str]]]:
    """What a deal's outcome does to the fields that look ahead, applied to `deal` (not saved).

    Won: the forecast category becomes "closed won", the expected close becomes the day it closed
    and the next step is done. Lost: it leaves the forecast ("omitted") and has no next step; its
    planned close date stays as it was planned. Back to open (reopened, or moved out of the won
    stage): it counts in the pipeline again. Returns the changed field names and their history."""
    if status == DealStatus.WON:
        target = {
            "forecast_category": ForecastCategory.CLOSED,
            "expected_close": timezone.localdate(at),
            "next_step": "",
        }
    elif status == DealStatus.LOST:
        target = {"forecast_category": ForecastCategory.OMITTED, "next_step": ""}
    elif deal.forecast_category in (ForecastCategory.CLOSED, ForecastCategory.OMITTED):
        target = {"forecast_category": ForecastCategory.PIPELINE}
    else:
        target = {}
    changed = [name for name, value in target.items() if getattr(deal, name) != value]
    history = [
        (TRACKED_FIELDS[name], _as_text(name, getattr(deal, name)), _as_text(name, target[name])) for name in changed
    ]
    for name in changed:
        setattr(deal, name, target[name])
    return changed, history


# --- Services -------------------------------------------------------------------------------


def deal_create(
    *,
    actor,
    organization: Organization,
    title: str,
    stage: Stage | None = None,
    pipeline: Pipeline | None = None,
    owner=None,
    amount=None,
    currency: str | None = None,
    expected_close: date | None = None,
    next_step: str = "",
    probability: int | None = None,
    external_id: str = "",
    actor_label: str = "",
    at: datetime | None = None,
    custom: dict | None = None,
) -> Deal:
    """Create a deal in `stage` (default: the first stage of `pipeline`) and record its start.
    `custom` holds the custom fields' values ({key: value}, checked by pipeline.custom_fields)."""
    title = (title or "").strip()
    if not title:
        raise PipelineError(_("A deal needs a title."), code="invalid_title")
    if stage is None:
        pipeline = pipeline or Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
        if pipeline is None:
            raise PipelineError(_("There is no pipeline yet. An admin has to create one first."))
        stage = pipeline.stages.order_by("position", "pk").first()
        if stage is None:
            raise PipelineError(_("This pipeline has no stages yet."))
    amount = money_clean(amount)
    currency = currency_clean(currency)
    # Required fields are required of callers that ask people for the custom fields (forms, the
    # API, an import with those columns); a quick add from the board or an automation passes none.
    custom = custom_fields.values_clean(kind="deal", values=custom, creating=True) if custom is not None else {}
    deal_entry_check(
        DealState(amount=amount, expected_close=expected_close, organization=organization, next_step=next_step or "",
                  custom=custom),
        None, stage,
    )
    if probability is not None and not 0 <= int(probability) <= 100:
        raise PipelineError(_("A probability lies between 0 and 100 %."), code="invalid_probability")
    now = at or timezone.now()
    won = stage.kind == StageKind.WON
    with transaction.atomic():
        deal = Deal.objects.create(
            pipeline_id=stage.pipeline_id,
            stage=stage,
            organization=organization,
            title=title,
            amount=amount,
            currency=currency,
            expected_close=expected_close,
            probability=probability,
            next_step=next_step.strip(),
            owner=owner or actor,
            status=DealStatus.WON if won else DealStatus.OPEN,
            closed_at=now if won else None,
            forecast_category=ForecastCategory.CLOSED if won else ForecastCategory.PIPELINE,
            stage_entered_at=now,
            created_at=now,
            external_id=external_id,
            custom=custom,
        )
        events.stage_change_record(
            deal=deal, from_stage=None, to_stage=stage, from_status="", to_status=deal.status,
            actor=actor, actor_label=actor_label, at=now,
        )
        _announce(deal, "created")
    return deal


@transaction.atomic
def deal_move(
    *,
    deal: Deal | int,
    to_stage: Stage,
    actor,
    expected_version: int | None = None,
    actor_label: str = "",
    at: datetime | None = None,
) -> Deal:
    """Move a deal to `to_stage`, or refuse with a message and change nothing."""
    locked = _lock(deal, expected_version)
    if to_stage.pipeline_id != locked.pipeline_id:
        raise MoveRefused(
            _("“%(stage)s” belongs to another pipeline.") % {"stage": str(to_stage)}, deal=locked, code="wrong_pipeline"
        )
    if locked.stage_id == to_stage.pk:
        return locked
    if locked.status == DealStatus.LOST:
        raise MoveRefused(_("This deal is lost. Reopen it before moving it."), deal=locked, code="lost")
    try:
        deal_entry_check(DealState.of(locked), locked.stage, to_stage)
    except MoveRefused as refusal:
        refusal.deal = locked
        raise

    now = at or timezone.now()
    from_stage, from_status = locked.stage, locked.status
    if to_stage.kind == StageKind.WON:
        locked.status = DealStatus.WON
        locked.closed_at = now
    elif locked.status == DealStatus.WON:
        locked.status = DealStatus.OPEN
        locked.closed_at = None
        locked.retention_done_at = None
    events.stage_change_record(
        deal=locked, from_stage=from_stage, to_stage=to_stage, from_status=from_status, to_status=locked.status,
        actor=actor, actor_label=actor_label, at=now, previous_since=locked.stage_entered_at,
    )
    closed_fields, closed_history = (
        _close_fields(locked, status=locked.status, at=now) if locked.status != from_status else ([], [])
    )
    previous_since = locked.stage_entered_at
    locked.stage = to_stage
    locked.stage_entered_at = now if now >= previous_since else previous_since
    locked.version += 1
    locked.save(
        update_fields=[
            "stage", "status", "closed_at", "retention_done_at", "stage_entered_at", *closed_fields, "version",
            "updated_at",
        ]
    )
    if closed_history:
        events.deal_changes_record(deal=locked, changes=closed_history, actor=actor, actor_label=actor_label, at=now)
    if locked.status == DealStatus.WON and from_status != DealStatus.WON:
        customers_since_mark([locked.organization_id])
    # An open deal moved between open stages, now: what happened before today and how deals ended
    # stay as they were (the forecast's accuracy and the stuck-deal limits need not be computed again).
    past_changed = at is not None or from_status != DealStatus.OPEN or locked.status != DealStatus.OPEN
    _announce(
        locked, "won" if locked.status == DealStatus.WON and from_status != DealStatus.WON else "moved",
        past_changed=past_changed,
    )
    return locked


@transaction.atomic
def deal_mark_lost(
    *,
    deal: Deal | int,
    reason: LostReason | None,
    actor,
    note: str = "",
    expected_version: int | None = None,
    actor_label: str = "",
    at: datetime | None = None,
) -> Deal:
    """Mark an open deal lost with a reason. The deal keeps the stage where it was lost."""
    locked = _lock(deal, expected_version)
    if reason is None:
        raise MoveRefused(_("Choose why this deal was lost."), deal=locked, code="reason_required")
    if not reason.is_active:
        raise MoveRefused(_("This lost reason is no longer in use."), deal=locked, code="reason_inactive")
    if locked.status == DealStatus.LOST:
        return locked
    if locked.status == DealStatus.WON:
        raise MoveRefused(
            _("This deal is won. Move it back to an open stage before marking it lost."), deal=locked, code="won"
        )
    now = at or timezone.now()
    events.stage_change_record(
        deal=locked, from_stage=locked.stage, to_stage=locked.stage, from_status=locked.status,
        to_status=DealStatus.LOST, actor=actor, actor_label=actor_label, at=now,
        previous_since=locked.stage_entered_at, lost_reason=reason,
    )
    locked.status = DealStatus.LOST
    locked.lost_reason = reason
    locked.lost_note = (note or "").strip()
    locked.closed_at = now
    closed_fields, closed_history = _close_fields(locked, status=DealStatus.LOST, at=now)
    locked.version += 1
    locked.save(
        update_fields=["status", "lost_reason", "lost_note", "closed_at", *closed_fields, "version", "updated_at"]
    )
    if closed_history:
        events.deal_changes_record(deal=locked, changes=closed_history, actor=actor, actor_label=actor_label, at=now)
    _announce(locked, "lost")
    return locked


@transaction.atomic
def deal_reopen(
    *, deal: Deal | int, actor, expected_version: int | None = None, actor_label: str = "", at: datetime | None = None
) -> Deal:
    """Reopen a lost deal in the stage where it was lost."""
    locked = _lock(deal, expected_version)
    if locked.status == DealStatus.OPEN:
        return locked
    if locked.status == DealStatus.WON:
        raise MoveRefused(
            _("A won deal is reopened by moving it back to an open stage."), deal=locked, code="won"
        )
    now = at or timezone.now()
    events.stage_change_record(
        deal=locked, from_stage=locked.stage, to_stage=locked.stage, from_status=locked.status,
        to_status=DealStatus.OPEN, actor=actor, actor_label=actor_label, at=now,
    )
    locked.status = DealStatus.OPEN
    locked.lost_reason = None
    locked.lost_note = ""
    locked.closed_at = None
    locked.stage_entered_at = now
    closed_fields, closed_history = _close_fields(locked, status=DealStatus.OPEN, at=now)
    locked.version += 1
    locked.save(
        update_fields=[
            "status", "lost_reason", "lost_note", "closed_at", "stage_entered_at", *closed_fields, "version", "updated_at",
        ]
    )
    if closed_history:
        events.deal_changes_record(deal=locked, changes=closed_history, actor=actor, actor_label=actor_label, at=now)
    _announce(locked, "reopened")
    return locked


UPDATABLE_FIELDS = (
    "title", "amount", "currency", "expected_close", "probability", "next_step", "owner", "organization", "forecast_category",
    "custom",
)
TRACKED_FIELDS = {
    "title": DealField.TITLE,
    "amount": DealField.AMOUNT,
    "currency": DealField.CURRENCY,
    "expected_close": DealField.EXPECTED_CLOSE,
    "probability": DealField.PROBABILITY,
    "next_step": DealField.NEXT_STEP,
    "owner": DealField.OWNER,
    "forecast_category": DealField.FORECAST_CATEGORY,
    "organization": DealField.ORGANIZATION,
}


def _as_text(field: str, value) -> str:
    if value is None:
        return ""
    if field in ("owner", "organization"):
        return str(value.pk)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@transaction.atomic
def deal_update(
    *,
    deal: Deal | int,
    actor,
    expected_version: int | None = None,
    actor_label: str = "",
    at: datetime | None = None,
    note: str = "",
    **data,
) -> Deal:
    """Change a deal's fields (not its stage or status) and record each change in DealChange,
    with `note` saying why when it was not a person's edit (an accepted offer). `custom` holds
    the custom fields that change ({key: value}; an empty value clears the field)."""
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise TypeError(f"deal_update() cannot change {', '.join(sorted(unknown))}")
    locked = _lock(deal, expected_version)
    if "amount" in data:
        data["amount"] = money_clean(data["amount"])
    if "currency" in data:
        data["currency"] = currency_clean(data["currency"], current=locked.currency)
    if "title" in data:
        data["title"] = (data["title"] or "").strip()
        if not data["title"]:
            raise PipelineError(_("A deal needs a title."), deal=locked, code="invalid_title")
    if "next_step" in data:
        data["next_step"] = (data["next_step"] or "").strip()
    if "forecast_category" in data and data["forecast_category"] not in ForecastCategory.values:
        raise PipelineError(_("Choose a forecast category."), deal=locked, code="invalid_forecast_category")
    if "forecast_category" in data and (data["forecast_category"] == ForecastCategory.CLOSED) != (
        locked.status == DealStatus.WON
    ):
        raise PipelineError(
            _("“Closed won” is the forecast category of won deals, and only theirs."),
            deal=locked, code="invalid_forecast_category",
        )
    if data.get("probability") is not None and not 0 <= int(data["probability"]) <= 100:
        raise PipelineError(_("A probability lies between 0 and 100 %."), deal=locked, code="invalid_probability")
    if "custom" in data:
        try:
            data["custom"] = custom_fields.values_clean(kind="deal", values=data["custom"] or {}, current=locked.custom or {})
        except custom_fields.CustomFieldsInvalid as invalid:
            invalid.deal = locked
            raise

    changed = {name: value for name, value in data.items() if getattr(locked, name) != value}
    if not changed:
        return locked

    try:
        deal_entry_check(
            DealState.of(locked, **changed), locked.stage, locked.stage, check_fit="organization" in changed
        )
    except MoveRefused as refusal:
        refusal.deal = locked
        raise

    history = [
        (TRACKED_FIELDS[name], _as_text(name, getattr(locked, name)), _as_text(name, value))
        for name, value in changed.items()
        if name in TRACKED_FIELDS
    ]
    custom_history = (
        custom_fields.changes(kind="deal", old=locked.custom or {}, new=changed["custom"]) if "custom" in changed else []
    )
    for name, value in changed.items():
        setattr(locked, name, value)
    locked.version += 1
    locked.save(update_fields=[*changed, "version", "updated_at"])
    if history:
        events.deal_changes_record(deal=locked, changes=history, actor=actor, actor_label=actor_label, at=at, note=note)
    if custom_history:
        events.deal_custom_changes_record(
            deal=locked, changes=custom_history, actor=actor, actor_label=actor_label, at=at, note=note
        )
    _announce(locked, "updated")
    return locked


@transaction.atomic
def deal_snooze_rotting(
    *, deal: Deal | int, actor, until: date | None, reason: str = "", expected_version: int | None = None
) -> Deal:
    """Hide a deal's rotting warning until `until` (a future date) with a reason, or end the
    snooze (`until=None`). Recorded in the deal's history."""
    locked = _lock(deal, expected_version)
    reason = (reason or "").strip()
    if until is not None:
        if until <= timezone.localdate():
            raise PipelineError(_("Snooze until a date in the future."), deal=locked, code="invalid_snooze")
        if not reason:
            raise PipelineError(_("Say why the warning is snoozed."), deal=locked, code="invalid_snooze")
        if locked.status != DealStatus.OPEN:
            raise PipelineError(_("Only open deals rot."), deal=locked, code="invalid_snooze")
    else:
        reason = ""
    if locked.rotting_snoozed_until == until and locked.rotting_snooze_reason == reason:
        return locked
    old = locked.rotting_snoozed_until.isoformat() if locked.rotting_snoozed_until else ""
    new = f"{until.isoformat()} ({reason})" if until else ""
    locked.rotting_snoozed_until = until
    locked.rotting_snooze_reason = reason[:200]
    locked.version += 1
    locked.save(update_fields=["rotting_snoozed_until", "rotting_snooze_reason", "version", "updated_at"])
    events.deal_changes_record(deal=locked, changes=[(DealField.ROTTING_SNOOZE, old, new)], actor=actor)
    # Not announced: nothing a forecast or another app reads changed, only the board's warning.
    return locked


@transaction.atomic
def deal_retention_mark(*, deal: Deal | int, done: bool, at: datetime | None = None) -> Deal:
    """Record whether a won deal's onboarding is complete; a complete one leaves the board.

    Called by the app that owns the onboarding checklist; the version is not bumped because
    nothing a rep edits on the deal changed.
    """
    locked = _lock(deal, None)
    value = (at or timezone.now()) if done and locked.status == DealStatus.WON else None
    if (locked.retention_done_at is None) == (value is None):
        return locked
    locked.retention_done_at = value
    locked.save(update_fields=["retention_done_at", "updated_at"])
    # Not announced: a won deal's forecast does not change when its onboarding completes.
    return locked


@transaction.atomic
def deals_bulk_import(*, deals: list[dict], batch_size: int = 2000) -> list[Deal]:
    """Create many deals at once from another system, with the state they have there.

    For importers only: the caller has validated every row and writes the deals' history with
    the bulk writers of `pipeline.events` in the same transaction. Nothing is announced per deal;
    the caller announces the pipelines once after commit.
    """
    rows = [Deal(**values) for values in deals]
    created = Deal.objects.bulk_create(rows, batch_size=batch_size)
    pipeline_ids = {deal.pipeline_id for deal in created}
    if pipeline_ids:
        deals_changed.publish(
            pipeline_ids=sorted(pipeline_ids), deal_ids=sorted(d.pk for d in created), kind="imported"
        )
    return created


@transaction.atomic
def open_stage_totals_rebuild() -> int:
    """Count OpenStageTotal again from the open deals (after a drift was found, or after data was
    written with the triggers switched off). On PostgreSQL the totals table is locked first: a
    deal write in flight has touched it already (its trigger did), so the lock waits for it to
    commit, and writes that come later wait for the rebuild. Returns the number of rows."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {OpenStageTotal._meta.db_table} IN EXCLUSIVE MODE")
    from .selectors import open_stage_totals_recount

    counted = open_stage_totals_recount()
    OpenStageTotal.objects.all().delete()
    OpenStageTotal.objects.bulk_create(
        [
            OpenStageTotal(
                stage_id=stage_id, owner_id=owner_id, currency=currency, deals=n, priced=priced, amount=total,
                amount_at_stage_probability=at_stage, weighted_own=own,
            )
            for (stage_id, owner_id, currency), (n, priced, total, at_stage, own) in counted.items()
        ],
        batch_size=2000,
    )
    return len(counted)


def deal_delete(*, deal: Deal | int, actor, actor_label: str = "") -> None:
    """Delete a deal and its history, for admins (the caller checks who may): what an import
    created by mistake, a test deal. Recorded in the audit trail with the deal's last state."""
    from accounts.models import ConfigAction
    from accounts.services import config_change_record, model_snapshot, snapshot_diff

    locked = _lock(deal, None)
    pk, pipeline_id, before = locked.pk, locked.pipeline_id, model_snapshot(locked, exclude=("custom",))
    locked.delete()
    config_change_record(
        instance=locked, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None), actor=actor,
        actor_label=actor_label,
    )
    deals_changed.publish(pipeline_ids=[pipeline_id], deal_ids=[], kind="deleted")
