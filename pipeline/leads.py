"""Every write of leads: the lead pages, the quick add, the API, the admin and the importer call
these functions.

A lead's fit score (how well it matches the ideal customer profile) is computed here, when the
lead is written, by the scorer the qualification app registers (pipeline.extensions
`register_lead_scorer`; the pipeline app never imports qualification), in the same transaction.
Rescoring every lead after the profile changes stays with the qualification app.

Each write records who created or changed which fields of the lead in the audit trail
(accounts.ConfigChange), in the same transaction.
"""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, config_changes_record_many, model_snapshot, snapshot_diff

from . import extensions
from .exceptions import PipelineError
from .models import Lead

LEAD_FIELDS = (
    "name", "industry", "company_size", "country", "website", "source", "contact_name", "contact_email",
    "contact_phone", "owner", "created_at",
)


# The explanation is derived from the score and the profile; the score itself is kept.
AUDIT_EXCLUDE = ("fit_explanation",)


def _snapshot(lead: Lead) -> dict:
    return model_snapshot(lead, exclude=AUDIT_EXCLUDE)


def leads_score(leads: list[Lead]) -> None:
    """Set the fit score and its explanation on `leads` (saved or not) without saving them."""
    for scorer, _fields in extensions.lead_scorers():
        scorer(leads)


def _scored_fields() -> frozenset[str]:
    return frozenset().union(*(fields for _scorer, fields in extensions.lead_scorers()))


def _fields_check(fields: dict) -> None:
    unknown = set(fields) - set(LEAD_FIELDS)
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on a lead")
    if "name" in fields and not (fields["name"] or "").strip():
        raise PipelineError(_("Name the company."), code="invalid_name")


@transaction.atomic
def lead_create(*, actor, name: str, actor_label: str = "", **fields) -> Lead:
    """Create a lead, scored. `owner` defaults to nobody (the caller decides whose it is)."""
    fields["name"] = (name or "").strip()
    _fields_check(fields)
    lead = Lead(**fields)
    leads_score([lead])
    lead.save()
    config_change_record(
        instance=lead, action=ConfigAction.CREATE, changes=snapshot_diff(None, _snapshot(lead)), actor=actor,
        actor_label=actor_label,
    )
    return lead


@transaction.atomic
def lead_update(*, lead: Lead | int, actor, actor_label: str = "", **fields) -> Lead:
    """Change a lead's fields; rescored when a field its score depends on changed."""
    _fields_check(fields)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    locked = Lead.objects.select_for_update().get(pk=lead.pk if isinstance(lead, Lead) else lead)
    changed = {name: value for name, value in fields.items() if getattr(locked, name) != value}
    if not changed:
        return locked
    before = _snapshot(locked)
    for name, value in changed.items():
        setattr(locked, name, value)
    update_fields = list(changed)
    if set(changed) & _scored_fields():
        leads_score([locked])
        update_fields += ["fit_score", "fit_explanation"]
    locked.save(update_fields=update_fields)
    config_change_record(
        instance=locked, action=ConfigAction.UPDATE, changes=snapshot_diff(before, _snapshot(locked)), actor=actor,
        actor_label=actor_label,
    )
    return locked


@transaction.atomic
def leads_bulk_import(*, leads: list[Lead], actor, actor_label: str = "", batch_size: int = 500) -> list[Lead]:
    """Create many leads at once (an import, demo data), scored and audited in bulk. For callers
    that have validated every lead; returns them saved."""
    for lead in leads:
        _fields_check({"name": lead.name})
    leads_score(leads)
    created = Lead.objects.bulk_create(leads, batch_size=batch_size)
    # The audit rows name each lead's owner: read the owners once, not once per lead.
    owner_ids = {lead.owner_id for lead in created if lead.owner_id and not Lead.owner.is_cached(lead)}
    owners = get_user_model().objects.in_bulk(owner_ids) if owner_ids else {}
    for lead in created:
        if lead.owner_id in owners:
            lead.owner = owners[lead.owner_id]
    config_changes_record_many(
        rows=[(lead, ConfigAction.CREATE, snapshot_diff(None, _snapshot(lead))) for lead in created],
        actor=actor, actor_label=actor_label,
    )
    return created
