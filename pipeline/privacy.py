"""A person's data-protection rights: a copy of everything Stageflow holds about them (access,
GDPR Art. 15, and portability, Art. 20) and the erasure of their personal data (Art. 17). The
only writer of erasures; the pages and any later caller use these functions.

Who may: admins, and managers who may change the person (pipeline.selectors.
can_handle_data_request). Both acts are recorded in the audit trail (actions "exported" and
"erased"), without personal data.

An erasure anonymises instead of deleting, so that deals, amounts, stage history and forecasts stay
as they were: the person's record stays, named "Erased person #<id>", still on their deals in their
roles, and everything that identifies them goes:

- their name, e-mail addresses, phone numbers, job title, language and how their consent was given;
  their match keys (they are suggested as nobody's duplicate); their place as an organisation's main
  contact (the organisation is rescored: it has one reachable contact fewer);
- the text of activities and notes about them (those that point at the person; through the erasers
  other apps register in pipeline.extensions), while when and by whom they were done stays;
- the values that name them in the audit trail: every personal field of the rows about them (and
  about records merged into them), their name in deals' contact changes and in organisations'
  main-contact changes (accounts.services.config_changes_scrub). Which field changed, when and by
  whom stays.

Kept on purpose: offers already sent to a customer, with the contact's name as it was printed, and a
customer's signed answer, are commercial letters that must be kept for the legal retention period
(German HGB § 257, AO § 147); they are not changed. Followers that copied personal data elsewhere
learn of the erasure through the outbox (`directory.person_erased`).
"""
import json

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import ConfigAction, ConfigChange
from accounts.services import config_change_record, config_changes_record_many, config_changes_scrub

from . import extensions, selectors
from .exceptions import PipelineError
from .models import Deal, DealContact, MatchKey, MergedKind, MergedRecord, Organization, Person, PersonEmail, PersonPhone
from .organizations import organizations_score
from .signals import person_erased

EXPORT_FORMAT_VERSION = 1
# The person's fields whose values name them, in their own audit rows (and the merge rows that
# name the records merged into or from them).
PERSONAL_FIELDS = frozenset(
    {"name", "job_title", "email", "phone", "emails", "phones", "consent_source", "language", "merged", "merged into"}
)
ERASED_VALUE = "—"
# The parts of the export that pipeline writes; other apps' exporters add their own sections.
EXPORT_SECTIONS = frozenset(
    {"format", "exported_at", "controller", "person", "emails", "phones", "deals", "main_contact_of", "history"}
)


def _is_custom_entry(field: str) -> bool:
    """An audit entry of a custom field ("Label [key]", pipeline.custom_fields.audit_snapshot)."""
    return field.endswith("]") and " [" in field


class PrivacyRefused(PipelineError):
    """An export or erasure that was refused; nothing was changed."""


def erased_name(pk: int) -> str:
    """What an erased person is called, in the installation's language (it is stored)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("Erased person #%(id)s") % {"id": pk}


def _merged_ids(person: Person) -> list[int]:
    return list(MergedRecord.objects.filter(kind=MergedKind.PERSON, survivor_id=person.pk).values_list("old_id", flat=True))


def _history_rows(person: Person, ids: list[int]):
    """The audit rows about the person (and the records merged into them): their own, and the deals'
    rows that record them being added, removed or given another role."""
    person_type, deal_type = (ContentType.objects.get_for_model(model) for model in (Person, Deal))
    about = Q(content_type=person_type, object_id__in=[str(pk) for pk in ids])
    for pk in ids:
        about |= Q(content_type=deal_type, changes_text__contains=f'"contact {pk} ')
    return ConfigChange.objects.annotate(changes_text=Cast("changes", TextField())).filter(about)


# --- The export -----------------------------------------------------------------------------------


def _when(value):
    return value.isoformat() if value else None


def person_data(person: Person) -> dict:
    """Everything Stageflow holds about the person, JSON-ready: their fields, e-mail addresses and
    phone numbers, consent, the deals they are on with their roles, the organisations they are main
    contact of, what other apps hold (activities, notes, …) and the audit history about them."""
    person = Person.objects.select_related("organization", "owner").get(pk=person.pk)
    ids = [person.pk, *_merged_ids(person)]
    contacts = (
        DealContact.objects.filter(person=person)
        .select_related("deal__organization", "deal__stage", "deal__owner", "role")
        .order_by("deal__created_at", "deal_id")
    )
    history = _history_rows(person, ids).select_related("actor", "content_type").order_by("at", "pk")
    data = {
        "format": f"stageflow-person-export/{EXPORT_FORMAT_VERSION}",
        "exported_at": timezone.now().isoformat(),
        "controller": settings.STAGEFLOW.get("COMPANY_NAME", ""),
        "person": {
            "id": person.pk,
            "name": person.name,
            "job_title": person.job_title,
            "custom_fields": person.custom or {},
            "organization": {"id": person.organization_id, "name": person.organization.name} if person.organization_id else None,
            "owner": str(person.owner) if person.owner_id else None,
            "language": person.language,
            "consent": person.consent,
            "consent_display": str(person.get_consent_display()),
            "consent_source": person.consent_source,
            "consent_at": _when(person.consent_at),
            "created_at": _when(person.created_at),
            "updated_at": _when(person.updated_at),
            "erased_at": _when(person.erased_at),
            "merged_records": ids[1:],
        },
        "emails": [{"address": e.address, "kind": e.kind} for e in PersonEmail.objects.filter(person=person)],
        "phones": [{"number": p.number, "kind": p.kind} for p in PersonPhone.objects.filter(person=person)],
        "deals": [
            {
                "id": c.deal_id, "title": c.deal.title, "organization": c.deal.organization.name,
                "role": str(c.role) if c.role_id else None, "status": c.deal.status, "stage": str(c.deal.stage),
                "owner": str(c.deal.owner), "on_deal_since": _when(c.created_at),
            }
            for c in contacts
        ],
        "main_contact_of": [
            {"id": pk, "name": name}
            for pk, name in Organization.objects.filter(main_contact=person).order_by("pk").values_list("pk", "name")
        ],
    }
    for exporter in extensions.person_exporters():
        for section, rows in (exporter(person=person) or {}).items():
            data.setdefault(section, []).extend(rows)
    data["history"] = [
        {
            "at": row.at.isoformat(), "record": f"{row.content_type.model} #{row.object_id}", "action": row.action,
            "by": row.actor_display, "changes": row.changes,
        }
        for row in history
    ]
    return data


def person_export(*, person: Person, actor, how: str = "json") -> dict:
    """`person_data`, recorded in the audit trail as an export (`how`: json, page)."""
    if actor is not None and not selectors.can_handle_data_request(actor, person):
        raise PrivacyRefused(_("Only admins and the managers responsible for a person may export their data."), code="forbidden")
    with transaction.atomic():
        data = person_data(person)
        config_change_record(instance=person, action=ConfigAction.EXPORT, changes={"export": [None, how]}, actor=actor)
    return data


# --- The erasure ----------------------------------------------------------------------------------


def _json_forms(text: str) -> set[str]:
    """How a text appears inside stored JSON: escaped as SQLite stores it, plain as PostgreSQL shows it."""
    return {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}


def _history_scrub(person: Person, *, ids: list[int], label: str, organization_ids: set[int]) -> int:
    """Scrub the values that name the person from the audit trail; returns how many rows changed."""
    own_ids = {str(pk) for pk in ids}
    person_type, organization_type = (ContentType.objects.get_for_model(model) for model in (Person, Organization))
    own_rows = list(_history_rows(person, ids))
    # Their names as the history knows them (renamed, or merged in under another name).
    names = {person.name}
    for row in own_rows:
        if row.content_type_id == person_type.pk and row.object_id in own_ids:
            names.update(value for value in (row.changes.get("name") or []) if value)
    names = sorted(name for name in names if name and name != label)

    named = Q()
    for name in names:
        for form in _json_forms(name):
            named |= Q(changes_text__contains=form)
    organization_rows = list(
        ConfigChange.objects.annotate(changes_text=Cast("changes", TextField()))
        .filter(content_type=organization_type, object_id__in=[str(pk) for pk in organization_ids])
        .filter(changes_text__contains='"main_contact"').filter(named)
    ) if names and organization_ids else []

    changed = []
    for row in own_rows:
        before = (row.changes, row.object_repr)
        if row.content_type_id == person_type.pk:
            # Only the personal fields name them (the others hold an organisation, an owner, a date).
            row.changes = {
                field: [ERASED_VALUE if v is not None else None for v in values]
                if (field in PERSONAL_FIELDS or _is_custom_entry(field)) and isinstance(values, list) else values
                for field, values in row.changes.items()
            }
            row.object_repr = label
        else:
            prefixes = tuple(f"contact {pk} " for pk in ids)
            row.changes = {
                (f"{field.split(' ', 2)[0]} {field.split(' ', 2)[1]} {label}" if field.startswith(prefixes) else field): values
                for field, values in row.changes.items()
            }
        if (row.changes, row.object_repr) != before:
            changed.append(row)
    for row in organization_rows:
        values = row.changes.get("main_contact")
        if isinstance(values, list) and any(v in names for v in values):
            row.changes = {**row.changes, "main_contact": [label if v in names else v for v in values]}
            changed.append(row)
    return config_changes_scrub(rows=changed)


@transaction.atomic
def person_erase(*, person: Person | int, actor, actor_label: str = "") -> Person:
    """Erase the person's personal data (see the module's description). Refused for someone the
    actor may not handle requests for, and for a person already erased."""
    pk = person.pk if isinstance(person, Person) else int(person)
    # The organisation service locks an organisation before its contact: so does the erasure.
    main_contact_of = list(Organization.objects.select_for_update().filter(main_contact_id=pk).order_by("pk"))
    locked = Person.objects.select_for_update().get(pk=pk)
    if locked.erased_at is not None:
        raise PrivacyRefused(_("This person's data was erased already."), code="erased")
    if actor is not None and not selectors.can_handle_data_request(actor, locked):
        raise PrivacyRefused(_("Only admins and the managers responsible for a person may erase their data."), code="forbidden")
    label = erased_name(locked.pk)
    ids = [locked.pk, *_merged_ids(locked)]
    organization_ids = {o.pk for o in main_contact_of}
    if locked.organization_id:
        organization_ids.add(locked.organization_id)
    organization_ids.update(DealContact.objects.filter(person=locked).values_list("deal__organization_id", flat=True))

    scrubbed = _history_scrub(locked, ids=ids, label=label, organization_ids=organization_ids)
    PersonEmail.objects.filter(person=locked).delete()
    PersonPhone.objects.filter(person=locked).delete()
    MatchKey.objects.filter(person=locked).delete()
    locked.name, locked.email, locked.phone, locked.job_title, locked.consent_source, locked.language = (label, "", "", "", "", "")
    locked.custom = {}  # what admins added may name them too
    locked.erased_at = timezone.now()
    locked.save(update_fields=[
        "name", "email", "phone", "job_title", "consent_source", "language", "custom", "erased_at", "updated_at",
    ])

    # An erased person is nobody's contact any more: their organisations are rescored without them.
    for organization in main_contact_of:
        organization.main_contact = None
    organizations_score(main_contact_of)
    Organization.objects.bulk_update(main_contact_of, ["main_contact", "fit_score", "fit_explanation"])
    config_changes_record_many(
        rows=[(o, ConfigAction.UPDATE, {"main_contact": [label, None]}) for o in main_contact_of],
        actor=actor, actor_label=actor_label,
    )
    erased = {}
    for eraser in extensions.person_erasers():
        for model_label, count in (eraser(person=locked) or {}).items():
            erased[model_label] = erased.get(model_label, 0) + count
    config_change_record(
        instance=locked, action=ConfigAction.ERASE, actor=actor, actor_label=actor_label,
        changes={
            "erased_at": [None, locked.erased_at.isoformat()],
            "audit rows scrubbed": [None, str(scrubbed)],
            **{f"erased {model_label}": [None, str(count)] for model_label, count in sorted(erased.items()) if count},
        },
    )
    person_erased.publish(person_id=locked.pk)
    return locked
