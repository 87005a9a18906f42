"""Every write of organisations: the organisation pages, the quick add, the API, the admin and
the importer call these functions.

An organisation is a lead while it is prospected and qualified, and a customer once a deal with it
is won (see the README). Its fit score (how well it matches the ideal customer profile) is computed
here, when it is written, by the scorer the qualification app registers (pipeline.extensions
`register_organization_scorer`; the pipeline app never imports qualification), in the same
transaction. Rescoring every organisation after the profile changes stays with the qualification app.

Each write records who created or changed which fields in the audit trail (accounts.ConfigChange),
in the same transaction.
"""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, config_changes_record_many, model_snapshot, snapshot_diff

from . import custom_fields, extensions, matching
from .exceptions import PipelineError
from .models import Organization, domain_normalize
from .signals import directory_changed

ORGANIZATION_FIELDS = (
    "name", "domains", "industry", "company_size", "country", "street", "postal_code", "city", "website", "phone",
    "source", "owner", "main_contact", "customer_since", "created_at", "custom",
)
# Not fields of the organisation but of its main contact (a Person), for the quick forms, the
# lead fields of the API and an import row: see people.main_contact_set.
CONTACT_FIELDS = ("contact_name", "contact_email", "contact_phone")


# What the duplicate suggestions compare (pipeline.matching).
MATCHED_FIELDS = frozenset({"name", "domains", "phone"})

# The explanation is derived from the score and the profile; the score itself is kept.
AUDIT_EXCLUDE = ("fit_explanation", "updated_at", "custom")


def _snapshot(organization: Organization) -> dict:
    return {
        **model_snapshot(organization, exclude=AUDIT_EXCLUDE),
        **(custom_fields.audit_snapshot("organization", organization.custom) if organization.custom else {}),
    }


def organizations_score(organizations: list[Organization]) -> None:
    """Set the fit score and its explanation on `leads` (saved or not) without saving them."""
    for scorer, _fields in extensions.organization_scorers():
        scorer(organizations)


def _scored_fields() -> frozenset[str]:
    return frozenset().union(*(fields for _scorer, fields in extensions.organization_scorers()))


def _fields_check(fields: dict) -> None:
    unknown = set(fields) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on an organisation")
    if "name" in fields and not (fields["name"] or "").strip():
        raise PipelineError(_("Name the company."), code="invalid_name")
    if "domains" in fields:
        fields["domains"] = domains_normalize(fields["domains"])


def domains_normalize(value) -> str:
    """Domains as stored: lower case, without scheme, path or "www.", each once, space-separated."""
    parts = value.replace(",", " ").replace(";", " ").split() if isinstance(value, str) else list(value or ())
    seen = []
    for part in parts:
        domain = domain_normalize(part)
        if domain and domain not in seen:
            seen.append(domain)
    return " ".join(seen)[:500]


def _contact_split(fields: dict) -> dict:
    return {name.removeprefix("contact_"): fields.pop(name) for name in CONTACT_FIELDS if name in fields}


def _website_domain_add(organization: Organization) -> None:
    """The website's domain counts as one of the organisation's domains."""
    domain = domain_normalize(organization.website) if organization.website else ""
    if domain and domain not in organization.domain_list:
        organization.domains = domains_normalize([domain, *organization.domain_list])


@transaction.atomic
def organization_create(*, actor, name: str, actor_label: str = "", **fields) -> Organization:
    """Create a lead, scored. `owner` defaults to nobody (the caller decides whose it is)."""
    fields["name"] = (name or "").strip()
    contact = _contact_split(fields)
    _fields_check(fields)
    if "custom" in fields:  # required fields are required of callers that ask for them
        fields["custom"] = custom_fields.values_clean(kind="organization", values=fields["custom"] or {}, creating=True)
    organization = Organization(**fields)
    _website_domain_add(organization)
    organizations_score([organization])
    organization.save()
    if contact:
        from .people import main_contact_set

        person = main_contact_set(organization=organization, actor=actor, actor_label=actor_label, **contact)
        if person is not None:
            organization.main_contact = person
            organizations_score([organization])  # the profile may ask for a contact
            organization.save(update_fields=["main_contact", "fit_score", "fit_explanation"])
    matching.organizations_keys_write([organization], new=True)
    config_change_record(
        instance=organization, action=ConfigAction.CREATE, changes=snapshot_diff(None, _snapshot(organization)), actor=actor,
        actor_label=actor_label,
    )
    directory_changed.publish(model="organization", kind="created", ids=[organization.pk])
    return organization


@transaction.atomic
def organization_update(*, organization: Organization | int, actor, actor_label: str = "", **fields) -> Organization:
    """Change a lead's fields; rescored when a field its score depends on changed."""
    contact = _contact_split(fields)
    _fields_check(fields)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    locked = Organization.objects.select_for_update().get(pk=organization.pk if isinstance(organization, Organization) else organization)
    if "custom" in fields:
        fields["custom"] = custom_fields.values_clean(
            kind="organization", values=fields["custom"] or {}, current=locked.custom or {}
        )
    if contact:
        from .people import main_contact_set

        person = main_contact_set(organization=locked, actor=actor, actor_label=actor_label, **contact)
        if person is not None and person.pk != locked.main_contact_id:
            fields["main_contact"] = person
    changed = {name: value for name, value in fields.items() if getattr(locked, name) != value}
    if not changed:
        return locked
    before = _snapshot(locked)
    for name, value in changed.items():
        setattr(locked, name, value)
    update_fields = [*changed, "updated_at"]
    if "website" in changed:
        _website_domain_add(locked)
        update_fields.append("domains")
    if set(changed) & _scored_fields():
        organizations_score([locked])
        update_fields += ["fit_score", "fit_explanation"]
    locked.save(update_fields=update_fields)
    if set(update_fields) & MATCHED_FIELDS:
        matching.organizations_keys_write([locked])
    if "phone" in changed:
        matching.organization_people_keys_write(locked)  # their switchboard number is not theirs
    config_change_record(
        instance=locked, action=ConfigAction.UPDATE, changes=snapshot_diff(before, _snapshot(locked)), actor=actor,
        actor_label=actor_label,
    )
    directory_changed.publish(model="organization", kind="changed", ids=[locked.pk])
    return locked


@transaction.atomic
def organizations_bulk_import(
    *, organizations: list[Organization], actor, actor_label: str = "", batch_size: int = 500,
    contacts: list[dict] | None = None,
) -> list[Organization]:
    """Create many organisations at once (an import, demo data), scored and audited in bulk. For
    callers that have validated every row; returns them saved. `contacts`, when given, holds one
    dict per organisation with its main contact's `name`, `email` and `phone` (empty: none)."""
    for organization in organizations:
        _fields_check({"name": organization.name})
        _website_domain_add(organization)
    organizations_score(organizations)
    created = Organization.objects.bulk_create(organizations, batch_size=batch_size)
    matching.organizations_keys_write(created, new=True)
    if contacts:
        from .people import main_contacts_bulk_create

        main_contacts_bulk_create(
            organizations=created, contacts=contacts, actor=actor, actor_label=actor_label, batch_size=batch_size
        )
        organizations_score(created)  # again: the profile may ask for a contact
        Organization.objects.bulk_update(created, ["fit_score", "fit_explanation"], batch_size=batch_size)
    # The audit rows name each lead's owner: read the owners once, not once per lead.
    owner_ids = {organization.owner_id for organization in created if organization.owner_id and not Organization.owner.is_cached(organization)}
    owners = get_user_model().objects.in_bulk(owner_ids) if owner_ids else {}
    for organization in created:
        if organization.owner_id in owners:
            organization.owner = owners[organization.owner_id]
    config_changes_record_many(
        rows=[(organization, ConfigAction.CREATE, snapshot_diff(None, _snapshot(organization))) for organization in created],
        actor=actor, actor_label=actor_label,
    )
    if created:
        directory_changed.publish(model="organization", kind="imported", ids=sorted(o.pk for o in created))
    return created


def organizations_rescore_for_main_contact(person) -> None:
    """Rescore the organisations whose main contact `person` is (the profile may ask for a
    reachable contact), after their name, e-mail or phone changed. In the caller's transaction."""
    organizations = list(Organization.objects.select_for_update().filter(main_contact=person))
    for organization in organizations:
        organization.main_contact = person
    organizations_score(organizations)
    Organization.objects.bulk_update(organizations, ["fit_score", "fit_explanation"])
