"""Every write of people and of who is on which deal: the pages, the API, the admin, the importer
and the demo data call these functions.

A person's e-mail addresses and phone numbers are rows of their own (with a kind each); the first
of each is copied onto the person (`Person.email`, `Person.phone`) by `_contact_points_save`, the
only place that writes them, so that lists and cards read one row.

Each write records who created or changed what in the audit trail (accounts.ConfigChange), in the
same transaction.
"""
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, config_changes_record_many, model_snapshot, snapshot_diff

from . import custom_fields, matching
from .exceptions import PipelineError
from .models import (
    ContactRole, Deal, DealContact, EmailKind, Organization, Person, PersonEmail, PersonPhone, PhoneKind, phone_digits,
)
from .signals import directory_changed

PERSON_FIELDS = (
    "name", "organization", "job_title", "owner", "language", "consent", "consent_source", "consent_at", "created_at", "custom",
)
AUDIT_EXCLUDE = ("email", "phone", "custom")


def _snapshot(person: Person, exclude=AUDIT_EXCLUDE) -> dict:
    return {
        **model_snapshot(person, exclude=exclude),
        **(custom_fields.audit_snapshot("person", person.custom) if person.custom else {}),
    }


@dataclass(frozen=True)
class EmailValue:
    address: str
    kind: str = EmailKind.WORK


@dataclass(frozen=True)
class PhoneValue:
    number: str
    kind: str = PhoneKind.WORK


def _fields_check(fields: dict) -> None:
    unknown = set(fields) - set(PERSON_FIELDS)
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on a person")
    if "name" in fields and not (fields["name"] or "").strip():
        raise PipelineError(_("Name the person."), code="invalid_name")


def _emails_clean(emails) -> list[EmailValue]:
    cleaned, seen = [], set()
    for value in emails or ():
        value = value if isinstance(value, EmailValue) else EmailValue(value)
        address = (value.address or "").strip().lower()
        if not address or address in seen:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise PipelineError(
                _("“%(address)s” is not an e-mail address.") % {"address": value.address}, code="invalid_email"
            ) from None
        if value.kind not in EmailKind.values:
            raise PipelineError(_("Choose the kind of each e-mail address."), code="invalid_kind")
        seen.add(address)
        cleaned.append(EmailValue(address, value.kind))
    return cleaned


def _phones_clean(phones) -> list[PhoneValue]:
    cleaned, seen = [], set()
    for value in phones or ():
        value = value if isinstance(value, PhoneValue) else PhoneValue(value)
        number = " ".join((value.number or "").split())[:50]
        if not number:
            continue
        digits = phone_digits(number)
        if len(digits) < 3:
            raise PipelineError(_("“%(number)s” is not a phone number.") % {"number": value.number}, code="invalid_phone")
        if value.kind not in PhoneKind.values:
            raise PipelineError(_("Choose the kind of each phone number."), code="invalid_kind")
        if digits in seen:
            continue
        seen.add(digits)
        cleaned.append(PhoneValue(number, value.kind))
    return cleaned


def _contact_points_save(person: Person, emails: list[EmailValue] | None, phones: list[PhoneValue] | None) -> dict:
    """Replace the person's addresses and/or numbers (None: leave them); returns the audit changes."""
    changes = {}
    update_fields = []
    if emails is not None:
        before = [e.address for e in person.emails.all()] if person.pk else []
        PersonEmail.objects.filter(person=person).delete()
        PersonEmail.objects.bulk_create(
            [PersonEmail(person=person, address=e.address, kind=e.kind, position=i) for i, e in enumerate(emails)]
        )
        after = [e.address for e in emails]
        if before != after:
            changes["emails"] = [" ".join(before) or None, " ".join(after) or None]
        person.email = after[0] if after else ""
        update_fields.append("email")
    if phones is not None:
        before = [p.number for p in person.phones.all()] if person.pk else []
        PersonPhone.objects.filter(person=person).delete()
        PersonPhone.objects.bulk_create(
            [
                PersonPhone(person=person, number=p.number, digits=phone_digits(p.number), kind=p.kind, position=i)
                for i, p in enumerate(phones)
            ]
        )
        after = [p.number for p in phones]
        if before != after:
            changes["phones"] = [" ".join(before) or None, " ".join(after) or None]
        person.phone = after[0] if after else ""
        update_fields.append("phone")
    if update_fields:
        person.save(update_fields=update_fields)
    return changes


@transaction.atomic
def person_create(*, actor, name: str, emails=(), phones=(), actor_label: str = "", **fields) -> Person:
    """Create a person with their e-mail addresses and phone numbers (strings or EmailValue and
    PhoneValue with a kind). Refuses bad addresses with a message; nothing is written then."""
    fields["name"] = (name or "").strip()[:200]
    _fields_check(fields)
    if "custom" in fields:  # required fields are required of callers that ask for them
        fields["custom"] = custom_fields.values_clean(kind="person", values=fields["custom"] or {}, creating=True)
    emails, phones = _emails_clean(emails), _phones_clean(phones)
    person = Person.objects.create(**fields)
    extra = _contact_points_save(person, emails, phones)
    matching.people_keys_write(
        [person], emails={person.pk: [e.address for e in emails]}, phones={person.pk: [p.number for p in phones]}, new=True,
    )
    config_change_record(
        instance=person, action=ConfigAction.CREATE,
        changes={**snapshot_diff(None, _snapshot(person)), **extra},
        actor=actor, actor_label=actor_label,
    )
    directory_changed.publish(model="person", kind="created", ids=[person.pk])
    return person


@transaction.atomic
def person_update(*, person: Person | int, actor, emails=None, phones=None, actor_label: str = "", **fields) -> Person:
    """Change a person's fields; `emails`/`phones` (when given) replace their addresses/numbers."""
    _fields_check(fields)
    if "name" in fields:
        fields["name"] = fields["name"].strip()[:200]
    locked = Person.objects.select_for_update().get(pk=person.pk if isinstance(person, Person) else person)
    if locked.erased_at is not None:
        raise PipelineError(_("This person's data was erased; their record cannot be changed."), code="erased")
    emails = None if emails is None else _emails_clean(emails)
    phones = None if phones is None else _phones_clean(phones)
    if "custom" in fields:
        fields["custom"] = custom_fields.values_clean(kind="person", values=fields["custom"] or {}, current=locked.custom or {})
    before = _snapshot(locked)
    changed = {name: value for name, value in fields.items() if getattr(locked, name) != value}
    for name, value in changed.items():
        setattr(locked, name, value)
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
    extra = _contact_points_save(locked, emails, phones)
    if "name" in changed or extra:
        from .organizations import organizations_rescore_for_main_contact

        organizations_rescore_for_main_contact(locked)
    if {"name", "organization"} & set(changed) or emails is not None or phones is not None:
        matching.people_keys_write(
            [locked],
            emails=None if emails is None else {locked.pk: [e.address for e in emails]},
            phones=None if phones is None else {locked.pk: [p.number for p in phones]},
        )
    changes = {**snapshot_diff(before, _snapshot(locked)), **extra}
    if changes:
        config_change_record(
            instance=locked, action=ConfigAction.UPDATE, changes=changes, actor=actor, actor_label=actor_label
        )
        directory_changed.publish(model="person", kind="changed", ids=[locked.pk])
    return locked


def main_contact_set(*, organization: Organization, actor, name: str = "", email: str = "", phone: str = "",
                     actor_label: str = "") -> Person | None:
    """The organisation's main contact, created or changed from a name, an e-mail and a phone (the
    quick forms, the API's lead fields, an import row). Empty values leave what is there. Called
    inside the organisation service's transaction; the caller saves `organization.main_contact`."""
    name, email, phone = (name or "").strip(), (email or "").strip(), (phone or "").strip()
    if not (name or email or phone):
        return organization.main_contact if organization.main_contact_id else None
    person = organization.main_contact if organization.main_contact_id else None
    if person is None:
        return person_create(
            actor=actor, actor_label=actor_label, name=name or email or phone, organization=organization,
            owner=organization.owner, emails=[email] if email else (), phones=[phone] if phone else (),
        )
    fields = {"name": name} if name else {}
    emails = phones = None
    if email and email.lower() != person.email:
        emails = [EmailValue(email)] + [EmailValue(e.address, e.kind) for e in person.emails.all()]
    if phone and phone_digits(phone) != phone_digits(person.phone):
        phones = [PhoneValue(phone)] + [PhoneValue(p.number, p.kind) for p in person.phones.all()]
    if fields or emails is not None or phones is not None:
        person = person_update(person=person, actor=actor, actor_label=actor_label, emails=emails, phones=phones, **fields)
    return person


def main_contacts_bulk_create(*, organizations: list[Organization], contacts: list[dict], actor, actor_label: str = "",
                               batch_size: int = 500) -> list[Person]:
    """The main contact of each of `organizations` (saved), from `contacts` ({name, email, phone},
    one per organisation, in the same order), in a few queries: an import's or the demo's bulk
    write (people_bulk_import). Rows without any of the three get no person."""
    pairs = []
    for organization, contact in zip(organizations, contacts, strict=True):
        name = (contact.get("name") or "").strip()
        email = (contact.get("email") or "").strip()
        phone = " ".join((contact.get("phone") or "").split())[:50]
        if name or email or phone:
            person = Person(
                name=(name or email or phone)[:200], organization=organization, owner_id=organization.owner_id,
                created_at=organization.created_at,
            )
            pairs.append((organization, PersonRow(person, emails=[email] if email else [], phones=[phone] if phone else [])))
    people = people_bulk_import(
        rows=[row for _org, row in pairs], actor=actor, actor_label=actor_label, batch_size=batch_size
    )
    for organization, row in pairs:
        organization.main_contact = row.person
    Organization.objects.bulk_update([org for org, _row in pairs], ["main_contact"], batch_size=batch_size)
    return people


@dataclass
class PersonRow:
    """One person of a bulk write (demo data, an import): the unsaved Person and their addresses."""

    person: Person
    emails: list = ()
    phones: list = ()


@transaction.atomic
def people_bulk_import(*, rows: list[PersonRow], actor, actor_label: str = "", batch_size: int = 500) -> list[Person]:
    """Create many people with their e-mail addresses and phone numbers in a few queries, audited
    in bulk. For callers that have validated every row (`emails`/`phones`: str or EmailValue /
    PhoneValue; the first of each is copied onto the person)."""
    for row in rows:
        _fields_check({"name": row.person.name})
        row.emails = _emails_clean(row.emails)
        row.phones = _phones_clean(row.phones)
        row.person.email = row.emails[0].address if row.emails else ""
        row.person.phone = row.phones[0].number if row.phones else ""
    people = Person.objects.bulk_create([row.person for row in rows], batch_size=batch_size)
    PersonEmail.objects.bulk_create(
        [PersonEmail(person=row.person, address=e.address, kind=e.kind, position=i)
         for row in rows for i, e in enumerate(row.emails)],
        batch_size=batch_size,
    )
    PersonPhone.objects.bulk_create(
        [PersonPhone(person=row.person, number=ph.number, digits=phone_digits(ph.number), kind=ph.kind, position=i)
         for row in rows for i, ph in enumerate(row.phones)],
        batch_size=batch_size,
    )
    matching.people_keys_write(  # found by the duplicate suggestions
        people, emails={row.person.pk: [e.address for e in row.emails] for row in rows},
        phones={row.person.pk: [ph.number for ph in row.phones] for row in rows}, new=True,
    )
    config_changes_record_many(
        rows=[(person, ConfigAction.CREATE, snapshot_diff(None, model_snapshot(person, exclude=("owner",))))
              for person in people],
        actor=actor, actor_label=actor_label,
    )
    if people:
        directory_changed.publish(model="person", kind="imported", ids=sorted(person.pk for person in people))
    return people


@transaction.atomic
def deal_contacts_bulk_create(*, contacts: list[DealContact], batch_size: int = 500) -> list[DealContact]:
    """Put many people on deals at once (demo data, an import): one row per deal and person."""
    seen, unique = set(), []
    for contact in contacts:
        key = (contact.deal_id, contact.person_id)
        if key not in seen:
            seen.add(key)
            unique.append(contact)
    return DealContact.objects.bulk_create(unique, batch_size=batch_size)


# --- Who is on a deal ---------------------------------------------------------------------------


def _deal_audit(deal: Deal, person: Person, action: str, before, after, actor, actor_label: str) -> None:
    config_change_record(
        instance=deal, action=action, changes={f"contact {person.pk} {person.name}": [before, after]},
        actor=actor, actor_label=actor_label,
    )


@transaction.atomic
def deal_contact_add(*, deal: Deal, person: Person, actor, role: ContactRole | None = None,
                     actor_label: str = "") -> DealContact:
    """Put `person` on `deal` in `role` (or change their role when they are on it already)."""
    if person.erased_at is not None:
        raise PipelineError(_("This person's data was erased; they cannot be added to a deal."), code="erased")
    if role is not None and not role.is_active:
        raise PipelineError(_("The role “%(role)s” is no longer used.") % {"role": role}, code="inactive_role")
    # By pk: the default order joins the (nullable) role, which PostgreSQL cannot lock.
    contact = DealContact.objects.select_for_update().filter(deal=deal, person=person).order_by("pk").first()
    if contact is None:
        contact = DealContact.objects.create(deal=deal, person=person, role=role)
        _deal_audit(deal, person, ConfigAction.UPDATE, None, str(role or _("contact")), actor, actor_label)
    elif contact.role_id != (role.pk if role else None):
        before = str(contact.role or _("contact"))
        contact.role = role
        contact.save(update_fields=["role"])
        _deal_audit(deal, person, ConfigAction.UPDATE, before, str(role or _("contact")), actor, actor_label)
    return contact


@transaction.atomic
def deal_contact_remove(*, deal: Deal, person: Person, actor, actor_label: str = "") -> bool:
    contact = (
        DealContact.objects.select_for_update(of=("self",)).select_related("role")  # the role is read, not locked
        .filter(deal=deal, person=person).order_by("pk").first()
    )
    if contact is None:
        return False
    contact.delete()
    _deal_audit(deal, person, ConfigAction.UPDATE, str(contact.role or _("contact")), None, actor, actor_label)
    return True
