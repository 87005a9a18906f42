"""Every write of leads: the lead pages, the quick add, the API, the admin and the importer call
these functions.

A lead's fit score (how well it matches the ideal customer profile) is computed here, when the
lead is written, by the scorer the qualification app registers (pipeline.extensions
`register_lead_scorer`; the pipeline app never imports qualification), in the same transaction.
Rescoring every lead after the profile changes stays with the qualification app.
"""
from django.db import transaction
from django.utils.translation import gettext as _

from . import extensions
from .exceptions import PipelineError
from .models import Lead

LEAD_FIELDS = (
    "name", "industry", "company_size", "country", "website", "source", "contact_name", "contact_email",
    "contact_phone", "owner", "created_at",
)


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
def lead_create(*, actor, name: str, **fields) -> Lead:
    """Create a lead, scored. `owner` defaults to nobody (the caller decides whose it is)."""
    fields["name"] = (name or "").strip()
    _fields_check(fields)
    lead = Lead(**fields)
    leads_score([lead])
    lead.save()
    return lead


@transaction.atomic
def lead_update(*, lead: Lead | int, actor, **fields) -> Lead:
    """Change a lead's fields; rescored when a field its score depends on changed."""
    _fields_check(fields)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    locked = Lead.objects.select_for_update().get(pk=lead.pk if isinstance(lead, Lead) else lead)
    changed = {name: value for name, value in fields.items() if getattr(locked, name) != value}
    if not changed:
        return locked
    for name, value in changed.items():
        setattr(locked, name, value)
    update_fields = list(changed)
    if set(changed) & _scored_fields():
        leads_score([locked])
        update_fields += ["fit_score", "fit_explanation"]
    locked.save(update_fields=update_fields)
    return locked


@transaction.atomic
def leads_bulk_import(*, leads: list[Lead], batch_size: int = 500) -> list[Lead]:
    """Create many leads at once (an import, demo data), scored in bulk. For callers that have
    validated every lead; returns them saved."""
    for lead in leads:
        _fields_check({"name": lead.name})
    leads_score(leads)
    return Lead.objects.bulk_create(leads, batch_size=batch_size)
