"""Bulk changes of deals: one change for a selection of deals, or for every deal a list's filter
matches. Each deal goes through the same service as a change of that deal alone (the rules, its
history, what follows it), in a transaction of its own, so that one refusal stops nothing else;
every refused deal is reported with its reason. Above BULK_SYNC_LIMIT deals the worker runs the
change and the page shows its progress. A bulk change can be undone as a batch: each deal that
is unchanged since (its version) is changed back, again through the services.
"""
import logging
from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activities import services as activity_services
from activities.models import ActivityKind
from pipeline import custom_fields, selectors, services
from pipeline.exceptions import PipelineError
from pipeline.models import Deal, ForecastCategory, LostReason, Stage

from .models import BulkAction, BulkChange, BulkStatus

logger = logging.getLogger(__name__)

BULK_SYNC_LIMIT = 50
MAX_BULK = 10_000
PROGRESS_EVERY = 25
# The deal's own fields a bulk change may set (custom fields too, as "cf.<key>").
SETTABLE_FIELDS = ("next_step", "expected_close", "forecast_category", "probability")


class BulkRefused(PipelineError):
    """The bulk change as a whole is refused (nothing was changed)."""


def bulk_params_clean(*, actor, action: str, data: dict) -> dict:
    """The change's parameters, checked once for the batch; refuses what no deal could take."""
    if action not in BulkAction.values:
        raise BulkRefused(_("Choose what to change."), code="invalid_action")
    if action == BulkAction.MOVE:
        stage = Stage.objects.filter(pk=_int(data.get("stage")), pipeline__in=selectors.visible_pipelines(actor)).first()
        if stage is None:
            raise BulkRefused(_("Choose the stage to move the deals to."), code="invalid_stage")
        return {"stage": stage.pk}
    if action == BulkAction.REASSIGN:
        owner = selectors.assignable_users(actor).filter(pk=_int(data.get("owner"))).first()
        if owner is None:
            raise BulkRefused(_("Choose someone you may give deals to."), code="invalid_owner")
        return {"owner": owner.pk}
    if action == BulkAction.LOSE:
        reason = LostReason.objects.filter(pk=_int(data.get("reason")), is_active=True).first()
        if reason is None:
            raise BulkRefused(_("Choose why the deals were lost."), code="reason_required")
        return {"reason": reason.pk, "note": (data.get("note") or data.get("value") or "").strip()[:1000]}
    if action == BulkAction.SET_FIELD:
        name = data.get("field") or ""
        value = data.get("value") or ""
        if name.startswith("cf."):
            definition = next((d for d in custom_fields.definitions("deal") if d.key == name[3:]), None)
            if definition is None:
                raise BulkRefused(_("Choose the field to set."), code="invalid_field")
            try:
                custom_fields.value_clean(definition, value)
            except ValueError as error:
                raise BulkRefused(str(error), code="invalid_value") from None
        elif name not in SETTABLE_FIELDS:
            raise BulkRefused(_("Choose the field to set."), code="invalid_field")
        elif name == "forecast_category" and value not in ForecastCategory.values:
            raise BulkRefused(_("Choose a forecast category."), code="invalid_value")
        return {"field": name, "value": value}
    if action == BulkAction.ADD_ACTIVITY:
        title = (data.get("title") or "").strip()[:200]
        if not title:
            raise BulkRefused(_("Give the activity a title."), code="invalid_title")
        try:
            due = datetime.fromisoformat(str(data.get("due") or "")).date()
        except ValueError:
            raise BulkRefused(_("Give the activity a due date."), code="invalid_due") from None
        kind = data.get("kind") if data.get("kind") in ActivityKind.values else ActivityKind.TASK
        return {"title": title, "due": due.isoformat(), "kind": kind}
    if not actor.is_admin:
        raise BulkRefused(_("Only admins delete deals."), code="admins_only")
    return {}


def _int(value) -> int | None:
    return int(value) if str(value or "").isdigit() else None


@transaction.atomic
def bulk_change_start(*, actor, action: str, data: dict, deal_ids: list[int]) -> BulkChange:
    """Record the change and run it now (a few deals) or have the worker run it."""
    params = bulk_params_clean(actor=actor, action=action, data=data)
    ids = list(dict.fromkeys(int(i) for i in deal_ids))[:MAX_BULK]
    if not ids:
        raise BulkRefused(_("Choose at least one deal."), code="no_deals")
    change = BulkChange.objects.create(action=action, params=params, deal_ids=ids, actor=actor)
    if len(ids) <= BULK_SYNC_LIMIT:
        bulk_change_run(change)
    else:
        transaction.on_commit(lambda: _enqueue(change.pk))
    return change


def _enqueue(change_id: int) -> None:
    from .tasks import bulk_change_task

    try:
        bulk_change_task.delay(change_id)
    except Exception:  # the broker is down: run it here rather than never
        logger.exception("Could not queue bulk change %s; running it in the request", change_id)
        bulk_change_run(BulkChange.objects.get(pk=change_id))


def _apply(change: BulkChange, deal: Deal, actor, cache: dict) -> dict | None:
    """Change one deal; returns what undoing it needs, or None when nothing changed."""
    params, action = change.params, change.action
    version = deal.version
    if action == BulkAction.MOVE:
        stage = cache.setdefault("stage", Stage.objects.select_related("pipeline").get(pk=params["stage"]))
        before = deal.stage_id
        deal = services.deal_move(deal=deal, to_stage=stage, actor=actor)
        undo = {"stage": before}
    elif action == BulkAction.REASSIGN:
        owner = cache.setdefault("owner", get_user_model().objects.get(pk=params["owner"]))
        before = deal.owner_id
        deal = services.deal_update(deal=deal, actor=actor, owner=owner)
        undo = {"owner": before}
    elif action == BulkAction.LOSE:
        reason = cache.setdefault("reason", LostReason.objects.get(pk=params["reason"]))
        deal = services.deal_mark_lost(deal=deal, reason=reason, actor=actor, note=params.get("note", ""))
        undo = {"reopen": True}
    elif action == BulkAction.SET_FIELD:
        name, value = params["field"], params["value"]
        if name.startswith("cf."):
            key = name[3:]
            before = (deal.custom or {}).get(key)
            deal = services.deal_update(deal=deal, actor=actor, custom={key: value})
            undo = {"custom": {key: before}}
        else:
            before = getattr(deal, name)
            deal = services.deal_update(deal=deal, actor=actor, **{name: _field_value(name, value)})
            undo = {"field": name, "value": before.isoformat() if hasattr(before, "isoformat") else before}
    elif action == BulkAction.ADD_ACTIVITY:
        due = timezone.make_aware(datetime.combine(datetime.fromisoformat(params["due"]).date(), time(9)))
        activity = activity_services.activity_create(
            actor=actor, kind=params["kind"], title=params["title"], due_at=due, deal=deal, owner=deal.owner,
        )
        return {"activity": activity.pk, "version": deal.version}
    else:
        services.deal_delete(deal=deal, actor=actor)
        return {"deleted": True, "version": None}
    if deal.version == version:
        return None
    return {**undo, "version": deal.version}


def _field_value(name: str, value):
    if value in ("", None):
        return None if name in ("expected_close", "probability") else ""
    if name == "expected_close":
        return datetime.fromisoformat(str(value)).date()
    if name == "probability":
        try:
            return int(value)
        except ValueError:
            raise PipelineError(_("A probability lies between 0 and 100 %."), code="invalid_probability") from None
    return value


def bulk_change_run(change: BulkChange) -> BulkChange:
    """Apply the change to each deal; safe to run again (a finished change is left alone, and a
    deal already handled is skipped)."""
    if change.status in (BulkStatus.DONE, BulkStatus.UNDONE):
        return change
    actor = change.actor
    change.status = BulkStatus.RUNNING
    change.save(update_fields=["status"])
    handled = {entry["id"] for entry in change.changed} | {entry["id"] for entry in change.refused}
    may_change = selectors.deal_change_rule(actor)
    visible = selectors.visible_deals(actor, queryset=Deal.objects.select_related("stage", "organization", "pipeline"))
    cache: dict = {}
    pending = [pk for pk in change.deal_ids if pk not in handled]
    for start in range(0, len(pending), PROGRESS_EVERY):
        chunk = pending[start:start + PROGRESS_EVERY]
        deals = {d.pk: d for d in visible.filter(pk__in=chunk)}
        for pk in chunk:
            deal = deals.get(pk)
            if deal is None or not may_change(deal):
                change.refused.append({"id": pk, "title": deal.title if deal else "", "message": _("You may not change this deal.")})
                continue
            try:
                undo = _apply(change, deal, actor, cache)
            except PipelineError as refusal:
                change.refused.append({"id": pk, "title": deal.title, "message": str(refusal.message)})
                continue
            if undo is not None:
                change.changed.append({"id": pk, **undo})
        change.done = min(change.total, start + len(chunk))
        change.save(update_fields=["done", "changed", "refused"])
    change.status = BulkStatus.DONE
    change.done = change.total
    change.finished_at = timezone.now()
    change.save(update_fields=["status", "done", "finished_at", "changed", "refused"])
    return change


def bulk_change_undo(*, change: BulkChange, actor) -> list[dict]:
    """Change back every deal that is unchanged since; returns the deals that could not be, with why."""
    if change.actor_id != actor.pk:
        raise BulkRefused(_("Only whoever made a bulk change can undo it."), code="not_actor")
    if change.status != BulkStatus.DONE:
        raise BulkRefused(_("This bulk change cannot be undone now."), code="not_done")
    if change.action == BulkAction.DELETE:
        raise BulkRefused(_("Deleted deals cannot be brought back."), code="deleted")
    not_undone = []
    deals = Deal.objects.select_related("stage", "organization", "pipeline").in_bulk([e["id"] for e in change.changed])
    for entry in change.changed:
        deal = deals.get(entry["id"])
        title = deal.title if deal else ""
        try:
            if "activity" in entry:
                if not activity_services.activity_delete(activity=entry["activity"], actor=actor):
                    raise PipelineError(_("The activity was done or removed since."), code="changed")
                continue
            if deal is None or deal.version != entry["version"]:
                raise PipelineError(_("The deal was changed since."), code="changed")
            if "stage" in entry:
                services.deal_move(deal=deal, to_stage=Stage.objects.get(pk=entry["stage"]), actor=actor,
                                   expected_version=entry["version"])
            elif "owner" in entry:
                services.deal_update(deal=deal, actor=actor, owner=get_user_model().objects.get(pk=entry["owner"]),
                                     expected_version=entry["version"])
            elif entry.get("reopen"):
                services.deal_reopen(deal=deal, actor=actor, expected_version=entry["version"])
            elif "custom" in entry:
                services.deal_update(deal=deal, actor=actor, custom=entry["custom"], expected_version=entry["version"])
            elif "field" in entry:
                services.deal_update(deal=deal, actor=actor, expected_version=entry["version"],
                                     **{entry["field"]: _field_value(entry["field"], entry["value"])})
        except PipelineError as refusal:
            not_undone.append({"id": entry["id"], "title": title, "message": str(refusal.message)})
    change.status = BulkStatus.UNDONE
    change.params = {**change.params, "not_undone": not_undone}
    change.save(update_fields=["status", "params"])
    return not_undone
