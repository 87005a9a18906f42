"""Scoring leads against the ideal customer profile.

A lead's score is the share of the profile's criterion weights it matches, 0–100, stored on
`pipeline.Lead.fit_score` with the explanation (which criteria matched, with their weights) in
`Lead.fit_explanation`. A lead is scored when pipeline.leads writes it (through `leads_score`,
registered as the pipeline's lead scorer in apps.py) and, in batches by a Celery task, when the
profile changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from pipeline.models import Organization

from .models import Attribute, Criterion, Profile, criterion_label

RESCORE_BATCH_SIZE = 1000

# The fields of a lead the score depends on: saving only other fields needs no rescoring.
# "main_contact": the profile may ask for a contact with a name and an e-mail or phone.
SCORED_FIELDS = {"industry", "company_size", "country", "source", "website", "main_contact"}


@dataclass(frozen=True)
class ScoringCriterion:
    pk: int
    attribute: str
    values: frozenset[str]
    weight: int
    value_list: tuple[str, ...]


def active_criteria() -> list[ScoringCriterion]:
    """The active profile's criteria, ready to score many leads (one query)."""
    rows = Criterion.objects.filter(profile__is_active=True).order_by("position", "pk")
    return [
        ScoringCriterion(
            pk=c.pk,
            attribute=c.attribute,
            values=frozenset(v.casefold() for v in c.value_list),
            weight=c.weight,
            value_list=tuple(c.value_list),
        )
        for c in rows
    ]


def _organization_value(values: dict, attribute: str):
    if attribute == Attribute.HAS_WEBSITE:
        return bool((values.get("website") or "").strip())
    if attribute == Attribute.HAS_CONTACT:
        return bool(values.get("has_contact"))
    return (values.get(attribute) or "").strip()


def fit_compute(values: dict, criteria: Iterable[ScoringCriterion]) -> tuple[int | None, dict]:
    """Score a lead given as a dict of its fields. None (and an empty explanation) without criteria."""
    criteria = list(criteria)
    total = sum(c.weight for c in criteria)
    if not total:
        return None, {}
    rows = []
    matched_weight = 0
    for c in criteria:
        value = _organization_value(values, c.attribute)
        matched = value if isinstance(value, bool) else bool(value) and value.casefold() in c.values
        if matched:
            matched_weight += c.weight
        rows.append({
            "criterion": c.pk,
            "attribute": c.attribute,
            "values": list(c.value_list),
            "weight": c.weight,
            "matched": matched,
            "value": value if not isinstance(value, bool) else "",
        })
    score = round(100 * matched_weight / total)
    return score, {"matched_weight": matched_weight, "total_weight": total, "criteria": rows}


def organization_values(organization: Organization) -> dict:
    values = {name: getattr(organization, name) for name in SCORED_FIELDS if name != "main_contact"}
    person = organization.main_contact if organization.main_contact_id else None
    values["has_contact"] = bool(person and person.name and (person.email or person.phone))
    return values


def organizations_score(organizations: list[Organization]) -> None:
    """Score `leads` (saved or not) against the active profile without saving them: the lead
    scorer pipeline.leads calls whenever it writes leads. One query for the whole batch."""
    criteria = active_criteria()
    for organization in organizations:
        organization.fit_score, organization.fit_explanation = fit_compute(organization_values(organization), criteria)


def organizations_fit_rescore_all(*, batch_size: int = RESCORE_BATCH_SIZE) -> int:
    """Rescore every lead against the current profile, in batches of `batch_size`; returns how many
    leads changed. Idempotent: a second run changes nothing."""
    criteria = active_criteria()
    changed = 0
    last_pk = 0
    fields = [
        "pk", "fit_score", "fit_explanation", *SCORED_FIELDS, "main_contact__name", "main_contact__email",
        "main_contact__phone",
    ]
    while True:
        batch = list(
            Organization.objects.filter(pk__gt=last_pk).order_by("pk").select_related("main_contact")
            .only(*fields)[:batch_size]
        )
        if not batch:
            return changed
        last_pk = batch[-1].pk
        dirty = []
        for organization in batch:
            score, explanation = fit_compute(organization_values(organization), criteria)
            if (organization.fit_score, organization.fit_explanation) != (score, explanation):
                organization.fit_score, organization.fit_explanation = score, explanation
                dirty.append(organization)
        if dirty:
            with transaction.atomic():
                Organization.objects.bulk_update(dirty, ["fit_score", "fit_explanation"])
            changed += len(dirty)


def _enqueue_rescore() -> None:
    from .tasks import organizations_fit_rescore_schedule

    organizations_fit_rescore_schedule()


def profile_changed() -> None:
    """Rescore all leads after the current transaction commits (once per transaction)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # The admin saves a profile and its criteria in one atomic block: one rescore is enough.
        # (Only callbacks of the same block count, since a rolled-back savepoint drops its own.)
        level = set(connection.savepoint_ids)
        if any(func is _enqueue_rescore and sids == level for sids, func, _robust in connection.run_on_commit):
            return
    transaction.on_commit(_enqueue_rescore)


def explanation_rows(explanation: dict) -> list[dict]:
    """The explanation's criteria with a label in the current language (labels are not stored)."""
    return [
        {**row, "label": criterion_label(row["attribute"], row.get("values", []))}
        for row in (explanation or {}).get("criteria", [])
    ]


def fit_summary(explanation: dict) -> str:
    """A one-line explanation for a tooltip: the matched criteria with their weights."""
    if not (explanation or {}).get("criteria"):
        return ""
    matched = [f"{row['label']} (+{row['weight']})" for row in explanation_rows(explanation) if row["matched"]]
    return "; ".join(matched) if matched else _("No criterion of the ideal customer profile matches.")


def profile_active() -> Profile | None:
    return Profile.objects.filter(is_active=True).first()
