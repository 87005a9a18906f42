"""Every write of the pipeline's configuration: pipelines, stages, transitions, lost reasons and
the roles people play on deals.

The admin, the API and the management commands call these functions and only translate their
refusals (`ConfigurationRefused`: a message and a code, the same text everywhere). Each function
runs in one transaction and writes its row of the configuration audit trail
(accounts.ConfigChange) inside it, in the shape the admin has always recorded: {field: [old, new]}
as text, old empty on create and new empty on delete.

Configuration that history points to is never deleted: a stage or pipeline that still holds deals
(they must be moved first), or that appears in StageChange rows (which keep their stages forever,
and forecasts learn from them), and a lost reason used by deals or their history.
"""
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import ConfigAction
from accounts.services import config_change_record, model_snapshot, snapshot_diff

from .exceptions import PipelineError
from .models import ContactRole, Deal, DealContact, LostReason, Pipeline, Stage, StageChange, Transition
from .names import TranslationsInvalid, translations_clean


class ConfigurationRefused(PipelineError):
    """A configuration change the rules refuse; nothing was changed. `field` names the input the
    refusal is about, when there is one (forms and the API show it next to that field)."""

    def __init__(self, message, *, code: str, field: str | None = None):
        super().__init__(message, code=code)
        self.field = field


PIPELINE_FIELDS = ("name", "name_translations", "position", "is_default", "is_active")
STAGE_FIELDS = ("name", "name_translations", "position", "probability", "kind", "rotting_days", "colour", "guidance")
TRANSITION_FIELDS = (
    "from_stage", "to_stage", "requires_amount", "requires_expected_close", "requires_contact", "requires_role",
    "requires_next_step", "min_fit_score", "requires_fields",
)
LOST_REASON_FIELDS = ("name", "name_translations", "position", "is_active")
CONTACT_ROLE_FIELDS = ("name", "name_translations", "position", "is_active")


# --- The audit trail and the shape of every write ---------------------------------------------------


def _fields_check(fields: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))}")
    if "requires_fields" in fields:
        from .custom_fields import CustomFieldRefused, required_keys_clean

        try:
            fields["requires_fields"] = required_keys_clean(fields["requires_fields"])
        except CustomFieldRefused as refused:
            raise ConfigurationRefused(refused.message, code=refused.code, field="requires_fields") from None
    if "name_translations" in fields:
        # The names people read in their own language (pipeline.names): known languages, no blanks.
        try:
            fields["name_translations"] = translations_clean(fields["name_translations"])
        except TranslationsInvalid as invalid:
            raise ConfigurationRefused(str(invalid), code="invalid_translations", field="name_translations") from None


def _created(instance, *, actor, actor_label: str):
    instance.save()
    config_change_record(
        instance=instance, action=ConfigAction.CREATE, changes=snapshot_diff(None, model_snapshot(instance)),
        actor=actor, actor_label=actor_label,
    )
    return instance


def _updated(instance, before: dict, *, actor, actor_label: str):
    """Save and audit `instance` if its fields differ from `before` (its stored snapshot)."""
    changes = snapshot_diff(before, model_snapshot(instance))
    if changes:
        instance.save()
        config_change_record(
            instance=instance, action=ConfigAction.UPDATE, changes=changes, actor=actor, actor_label=actor_label
        )
    return instance


def _deleted(instance, *, actor, actor_label: str) -> None:
    pk, before = instance.pk, model_snapshot(instance)
    instance.delete()
    config_change_record(
        instance=instance, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None),
        actor=actor, actor_label=actor_label,
    )


def _locked(model, instance):
    return model.objects.select_for_update().get(pk=instance.pk if isinstance(instance, model) else instance)


# --- Why something cannot be deleted -----------------------------------------------------------------


def stage_delete_refusal(stage: Stage) -> ConfigurationRefused | None:
    """Why `stage` cannot be deleted (deals it holds first: they can be moved away; then the
    history that points to it, which is never rewritten), or None."""
    deals = stage.deals.count()
    if deals:
        return ConfigurationRefused(
            ngettext(
                "The stage “%(stage)s” still holds %(count)d deal. Move it to another stage first; "
                "a stage is never deleted together with its deals.",
                "The stage “%(stage)s” still holds %(count)d deals. Move them to another stage first; "
                "a stage is never deleted together with its deals.",
                deals,
            ) % {"stage": stage.name, "count": deals},
            code="stage_has_deals",
        )
    if StageChange.objects.filter(Q(from_stage=stage) | Q(to_stage=stage)).exists():
        return ConfigurationRefused(
            _(
                "The stage “%(stage)s” appears in the history of deals, which must stay intact for "
                "reports and forecasts, so it cannot be deleted. Rename it or move it to the end instead."
            ) % {"stage": stage.name},
            code="stage_in_use",
        )
    return None


def pipeline_delete_refusal(pipeline: Pipeline) -> ConfigurationRefused | None:
    deals = pipeline.deals.count()
    if deals:
        return ConfigurationRefused(
            ngettext(
                "The pipeline “%(pipeline)s” still holds %(count)d deal; it cannot be deleted. "
                "Mark it inactive instead.",
                "The pipeline “%(pipeline)s” still holds %(count)d deals; it cannot be deleted. "
                "Mark it inactive instead.",
                deals,
            ) % {"pipeline": pipeline.name, "count": deals},
            code="pipeline_has_deals",
        )
    if StageChange.objects.filter(Q(from_stage__pipeline=pipeline) | Q(to_stage__pipeline=pipeline)).exists():
        return ConfigurationRefused(
            _(
                "The pipeline “%(pipeline)s” appears in the history of deals, so it cannot be deleted. "
                "Mark it inactive instead."
            ) % {"pipeline": pipeline.name},
            code="pipeline_in_use",
        )
    return None


def lost_reason_delete_refusal(reason: LostReason) -> ConfigurationRefused | None:
    if Deal.objects.filter(lost_reason=reason).exists() or StageChange.objects.filter(lost_reason=reason).exists():
        return ConfigurationRefused(
            _(
                "The lost reason “%(reason)s” is used by deals or their history, so it cannot be deleted. "
                "Mark it inactive instead; it will no longer be offered."
            ) % {"reason": reason.name},
            code="reason_in_use",
        )
    return None


def contact_role_delete_refusal(role: ContactRole) -> ConfigurationRefused | None:
    if DealContact.objects.filter(role=role).exists() or Transition.objects.filter(requires_role=role).exists():
        return ConfigurationRefused(
            _(
                "The role “%(role)s” is given to people on deals or required by an entry rule, so it cannot be "
                "deleted. Mark it inactive instead; it will no longer be offered."
            ) % {"role": role.name},
            code="role_in_use",
        )
    return None


# --- Pipelines ------------------------------------------------------------------------------------


def _only_default(pipeline: Pipeline, *, actor, actor_label: str) -> None:
    """One pipeline is the default: the others lose the flag (each change audited)."""
    if not pipeline.is_default:
        return
    for other in Pipeline.objects.select_for_update().exclude(pk=pipeline.pk).filter(is_default=True).order_by("pk"):
        before = model_snapshot(other)
        other.is_default = False
        _updated(other, before, actor=actor, actor_label=actor_label)


@transaction.atomic
def pipeline_create(*, actor, actor_label: str = "", **fields) -> Pipeline:
    _fields_check(fields, PIPELINE_FIELDS)
    pipeline = _created(Pipeline(**fields), actor=actor, actor_label=actor_label)
    _only_default(pipeline, actor=actor, actor_label=actor_label)
    return pipeline


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline | int, actor, actor_label: str = "", **fields) -> Pipeline:
    _fields_check(fields, PIPELINE_FIELDS)
    locked = _locked(Pipeline, pipeline)
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    _updated(locked, before, actor=actor, actor_label=actor_label)
    _only_default(locked, actor=actor, actor_label=actor_label)
    return locked


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline | int, actor, actor_label: str = "") -> None:
    locked = _locked(Pipeline, pipeline)
    refusal = pipeline_delete_refusal(locked)
    if refusal:
        raise refusal
    # Its stages and transitions go with it: audited one by one, as if deleted by hand.
    for transition in locked.transitions.order_by("pk"):
        _deleted(transition, actor=actor, actor_label=actor_label)
    for stage in locked.stages.order_by("pk"):
        _deleted(stage, actor=actor, actor_label=actor_label)
    _deleted(locked, actor=actor, actor_label=actor_label)


# --- Stages ---------------------------------------------------------------------------------------


def stage_kind_refusal(stage: Stage, kind: str) -> ConfigurationRefused | None:
    # Deals in a won stage are won, in an open stage open: flipping the kind would break that.
    if stage.pk and kind != stage.kind and stage.deals.exists():
        return ConfigurationRefused(
            _("“%(stage)s” holds deals, so it cannot switch between open and won. Move them first.")
            % {"stage": stage.name},
            code="stage_has_deals", field="kind",
        )
    return None


@transaction.atomic
def stage_create(*, pipeline: Pipeline, actor, actor_label: str = "", **fields) -> Stage:
    _fields_check(fields, STAGE_FIELDS)
    return _created(Stage(pipeline=pipeline, **fields), actor=actor, actor_label=actor_label)


@transaction.atomic
def stage_update(*, stage: Stage | int, actor, actor_label: str = "", pipeline: Pipeline | None = None, **fields) -> Stage:
    """Change a stage's fields. A stage never changes pipeline (its deals belong to the pipeline),
    and a stage holding deals never switches between open and won."""
    _fields_check(fields, STAGE_FIELDS)
    locked = _locked(Stage, stage)
    if pipeline is not None and pipeline.pk != locked.pipeline_id:
        raise ConfigurationRefused(_("A stage cannot move to another pipeline."), code="immutable", field="pipeline")
    if "kind" in fields:
        refusal = stage_kind_refusal(locked, fields["kind"])
        if refusal:
            raise refusal
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    return _updated(locked, before, actor=actor, actor_label=actor_label)


@transaction.atomic
def stage_delete(*, stage: Stage | int, actor, actor_label: str = "") -> None:
    locked = _locked(Stage, stage)
    refusal = stage_delete_refusal(locked)
    if refusal:
        raise refusal
    for transition in Transition.objects.filter(Q(from_stage=locked) | Q(to_stage=locked)).order_by("pk"):
        _deleted(transition, actor=actor, actor_label=actor_label)
    _deleted(locked, actor=actor, actor_label=actor_label)


# --- Transitions ----------------------------------------------------------------------------------


def transition_refusal(*, pipeline: Pipeline, from_stage: Stage | None, to_stage: Stage | None) -> ConfigurationRefused | None:
    """Both ends of a transition belong to its pipeline, and it leads to another stage."""
    for field, stage in (("from_stage", from_stage), ("to_stage", to_stage)):
        if stage is not None and stage.pipeline_id != pipeline.pk:
            return ConfigurationRefused(
                _("“%(stage)s” belongs to another pipeline.") % {"stage": stage.name}, code="wrong_pipeline",
                field=field,
            )
    if from_stage is not None and from_stage == to_stage:
        return ConfigurationRefused(_("A transition leads to another stage."), code="same_stage", field="to_stage")
    return None


@transaction.atomic
def transition_create(*, pipeline: Pipeline, actor, actor_label: str = "", **fields) -> Transition:
    _fields_check(fields, TRANSITION_FIELDS)
    refusal = transition_refusal(pipeline=pipeline, from_stage=fields.get("from_stage"), to_stage=fields.get("to_stage"))
    if refusal:
        raise refusal
    return _created(Transition(pipeline=pipeline, **fields), actor=actor, actor_label=actor_label)


@transaction.atomic
def transition_update(
    *, transition: Transition | int, actor, actor_label: str = "", pipeline: Pipeline | None = None, **fields
) -> Transition:
    _fields_check(fields, TRANSITION_FIELDS)
    locked = _locked(Transition, transition)
    if pipeline is not None and pipeline.pk != locked.pipeline_id:
        raise ConfigurationRefused(
            _("A transition cannot move to another pipeline."), code="immutable", field="pipeline"
        )
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    refusal = transition_refusal(pipeline=locked.pipeline, from_stage=locked.from_stage, to_stage=locked.to_stage)
    if refusal:
        raise refusal
    return _updated(locked, before, actor=actor, actor_label=actor_label)


@transaction.atomic
def transition_delete(*, transition: Transition | int, actor, actor_label: str = "") -> None:
    _deleted(_locked(Transition, transition), actor=actor, actor_label=actor_label)


# --- Lost reasons ---------------------------------------------------------------------------------


@transaction.atomic
def lost_reason_create(*, actor, actor_label: str = "", **fields) -> LostReason:
    _fields_check(fields, LOST_REASON_FIELDS)
    return _created(LostReason(**fields), actor=actor, actor_label=actor_label)


@transaction.atomic
def lost_reason_update(*, reason: LostReason | int, actor, actor_label: str = "", **fields) -> LostReason:
    _fields_check(fields, LOST_REASON_FIELDS)
    locked = _locked(LostReason, reason)
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    return _updated(locked, before, actor=actor, actor_label=actor_label)


@transaction.atomic
def lost_reason_delete(*, reason: LostReason | int, actor, actor_label: str = "") -> None:
    locked = _locked(LostReason, reason)
    refusal = lost_reason_delete_refusal(locked)
    if refusal:
        raise refusal
    _deleted(locked, actor=actor, actor_label=actor_label)


# --- Contact roles ----------------------------------------------------------------------------------


@transaction.atomic
def contact_role_create(*, actor, actor_label: str = "", **fields) -> ContactRole:
    _fields_check(fields, CONTACT_ROLE_FIELDS)
    return _created(ContactRole(**fields), actor=actor, actor_label=actor_label)


@transaction.atomic
def contact_role_update(*, role: ContactRole | int, actor, actor_label: str = "", **fields) -> ContactRole:
    _fields_check(fields, CONTACT_ROLE_FIELDS)
    locked = _locked(ContactRole, role)
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    return _updated(locked, before, actor=actor, actor_label=actor_label)


@transaction.atomic
def contact_role_delete(*, role: ContactRole | int, actor, actor_label: str = "") -> None:
    locked = _locked(ContactRole, role)
    refusal = contact_role_delete_refusal(locked)
    if refusal:
        raise refusal
    _deleted(locked, actor=actor, actor_label=actor_label)
