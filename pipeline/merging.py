"""Merging two organisations or two people that are the same company or person: the only writer
of merges. The pages, the API and any later caller use these functions and show their refusals.

A merge keeps one record, the survivor, and deletes the other after moving everything that
pointed at it, in one transaction:

1. Both records are locked in a fixed order (by primary key, whichever survives), so that two
   merges of the same pair in opposite directions wait for each other instead of deadlocking;
   the second then finds its record gone and is refused. Organisations whose main contact is one
   of two people being merged are locked before the people, in the order the organisation service
   takes its locks (organisation, then its contact).
2. Everything moves to the survivor: an organisation's deals (each with a DealChange row saying
   so), its people, and what other apps keep (activities, notes, e-mail: the movers registered in
   pipeline.extensions); a person's places on deals (on a deal where both were, the more
   meaningful role stays: a role beats none, and of two roles the one listed first in the admin's
   order), the organisations they are main contact of, and what other apps keep.
3. The survivor's empty fields are filled from the other record, their domains, e-mail addresses
   and phone numbers united, through the organisation and person services (which audit the change
   and rescore the organisation against the ideal customer profile; where no profile scores
   organisations, the better of the two fit scores stays). A person's consent is the later of the
   two recorded statements.
4. Before the record is deleted, every relation that points at it is counted: if an app keeps
   rows about it that no mover moved, the merge is refused and nothing changes, instead of
   deleting those rows with it.
5. History: an audit row on the survivor (action "merged") naming the merged record and what
   moved, a "deleted" row on the merged record with its last values, a tombstone (MergedRecord)
   that leads the old id's pages to the survivor, and an outbox event (`directory.merged`) for
   followers such as webhooks.

Refused, with a message a user understands: a record merged with itself, an organisation with a
person, records the actor may not change, an erased person, a record merged away in the meantime.
"""
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, config_changes_record_many, model_snapshot, snapshot_diff

from . import events, extensions, matching, selectors
from .exceptions import PipelineError
from .models import (
    Consent, ContactRole, Deal, DealContact, DealField, LeadSource, MatchKey, MergedKind, MergedRecord, Organization,
    Person, PersonEmail, PersonPhone,
)
from .organizations import domains_normalize, organization_update, organizations_score
from .people import EmailValue, PhoneValue, person_update
from .services import customers_since_mark
from .signals import deals_changed, directory_changed, records_merged

# Filled on the survivor when empty there and set on the merged record.
ORGANIZATION_FILLED = ("industry", "company_size", "country", "street", "postal_code", "city", "website", "phone", "owner")
PERSON_FILLED = ("job_title", "organization", "owner", "language")


class MergeRefused(PipelineError):
    """The merge was refused; nothing was changed. `message` is safe to show."""


@dataclass
class MergeResult:
    survivor: Organization | Person
    merged_id: int
    merged_name: str
    moved: dict[str, int] = field(default_factory=dict)


def _pk(record) -> int:
    return record.pk if hasattr(record, "pk") else int(record)


def records_merge(*, survivor, merged, actor, actor_label: str = "") -> MergeResult:
    """Merge `merged` into `survivor`: two organisations or two people."""
    if isinstance(survivor, Organization) and isinstance(merged, Organization):
        return organizations_merge(survivor=survivor, merged=merged, actor=actor, actor_label=actor_label)
    if isinstance(survivor, Person) and isinstance(merged, Person):
        return people_merge(survivor=survivor, merged=merged, actor=actor, actor_label=actor_label)
    raise MergeRefused(
        _("An organisation can only be merged with another organisation, and a person with another person."),
        code="different_kinds",
    )


def _lock_pair(model, survivor, merged):
    """Both rows, locked in primary-key order; refused when they are one or one is gone."""
    survivor_pk, merged_pk = _pk(survivor), _pk(merged)
    if survivor_pk == merged_pk:
        raise MergeRefused(_("A record cannot be merged with itself."), code="same")
    locked = {row.pk: row for row in model.objects.select_for_update().filter(pk__in=[survivor_pk, merged_pk]).order_by("pk")}
    if len(locked) < 2:
        raise MergeRefused(
            _("One of the two records no longer exists (it may have been merged a moment ago). Nothing was changed."),
            code="gone",
        )
    return locked[survivor_pk], locked[merged_pk]


def _movers_run(kind: str, source, target, actor) -> dict[str, int]:
    moved = {}
    for mover in extensions.merge_movers():
        for label, count in (mover(kind=kind, source=source, target=target, actor=actor) or {}).items():
            moved[label] = moved.get(label, 0) + count
    return moved


def rows_still_pointing_at(record, *, ignore=()) -> list[str]:
    """The kinds of rows (their names) that still point at `record` through a foreign key, of any
    app: what deleting it would delete or be refused by."""
    left = set()
    for relation in type(record)._meta.get_fields(include_hidden=True):
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        model = relation.related_model
        if model in ignore:
            continue
        if model._base_manager.filter(**{relation.field.name: record.pk}).exists():
            left.add(str(model._meta.verbose_name_plural))
    return sorted(left)


def _nothing_left_behind(source, *, ignore) -> None:
    left = rows_still_pointing_at(source, ignore=ignore)
    if left:
        raise MergeRefused(
            _("Nothing was merged: %(rows)s still refer to “%(name)s” and nothing here can move them.")
            % {"rows": ", ".join(left), "name": source},
            code="unmoved",
        )


def _history_record(kind: str, *, source, target, moved: dict[str, int], before: dict, actor, actor_label: str) -> None:
    """The audit rows on both records, the tombstone, and the event for followers."""
    config_change_record(
        instance=target, action=ConfigAction.MERGE, actor=actor, actor_label=actor_label,
        changes={
            "merged": [None, f"#{source.pk} {source}"],
            **{f"moved {label}": [None, str(count)] for label, count in sorted(moved.items()) if count},
        },
    )
    config_change_record(
        instance=source, object_id=source.pk, action=ConfigAction.DELETE, actor=actor, actor_label=actor_label,
        changes={**snapshot_diff(before, None), "merged into": [None, f"#{target.pk} {target}"]},
    )
    # Tombstones of records merged into this one before now lead to the survivor too.
    MergedRecord.objects.filter(kind=kind, survivor_id=source.pk).update(survivor_id=target.pk)
    MergedRecord.objects.create(
        kind=kind, old_id=source.pk, survivor_id=target.pk, merged_by=actor if getattr(actor, "pk", None) else None,
    )
    records_merged.publish(
        kind=kind, survivor_id=target.pk, merged_id=source.pk, moved={k: v for k, v in moved.items() if v},
        actor_id=getattr(actor, "pk", None),
    )
    # The address book's own topic, which the webhooks for "… merged" follow.
    directory_changed.publish(model=str(kind), kind="merged", ids=[target.pk], merged_ids=[source.pk])


# --- Organisations ------------------------------------------------------------------------------


def _deals_move(source: Organization, target: Organization, actor, actor_label: str) -> int:
    deals = list(Deal.objects.filter(organization=source).order_by("pk").values_list("pk", "pipeline_id"))
    if not deals:
        return 0
    ids = [pk for pk, _pipeline in deals]
    now = timezone.now()
    # A new version: a board or form that shows the deal's old organisation is out of date.
    Deal.objects.filter(pk__in=ids).update(organization=target, version=F("version") + 1, updated_at=now)
    note = _("Organisation #%(merged)s merged into #%(survivor)s") % {"merged": source.pk, "survivor": target.pk}
    events.deal_changes_bulk_record(
        events.DealChangeEvent(
            deal_id=pk, field=DealField.ORGANIZATION, old_value=str(source.pk), new_value=str(target.pk), at=now,
            actor_id=getattr(actor, "pk", None), actor_label=actor_label, note=note,
        )
        for pk in ids
    )
    deals_changed.publish(
        pipeline_ids=sorted({pipeline for _pk, pipeline in deals}), deal_ids=ids, kind="updated", past_changed=False
    )
    return len(ids)


def _organization_fills(target: Organization, source: Organization) -> dict:
    fills = {name: getattr(source, name) for name in ORGANIZATION_FILLED if not getattr(target, name) and getattr(source, name)}
    if target.source == LeadSource.OTHER and source.source != LeadSource.OTHER:
        fills["source"] = source.source
    if not target.main_contact_id and source.main_contact_id:
        fills["main_contact"] = source.main_contact  # a person at the survivor by now
    if source.customer_since and (target.customer_since is None or source.customer_since < target.customer_since):
        fills["customer_since"] = source.customer_since
    if source.created_at < target.created_at:
        fills["created_at"] = source.created_at  # known since the first of the two was written
    domains = domains_normalize([*target.domain_list, *source.domain_list])
    if domains != target.domains:
        fills["domains"] = domains
    return fills


@transaction.atomic
def organizations_merge(*, survivor: Organization | int, merged: Organization | int, actor, actor_label: str = "") -> MergeResult:
    """Merge organisation `merged` into `survivor` (see the module's description)."""
    target, source = _lock_pair(Organization, survivor, merged)
    if actor is not None and not selectors.can_merge_organizations(actor, target, source):
        raise MergeRefused(_("You may merge only organisations you may change, both of them."), code="forbidden")
    before = model_snapshot(source, exclude=("fit_explanation", "updated_at"))
    moved = {Deal._meta.label_lower: _deals_move(source, target, actor, actor_label)}

    people = list(Person.objects.filter(organization=source).order_by("pk"))
    if people:
        Person.objects.filter(pk__in=[p.pk for p in people]).update(organization=target, updated_at=timezone.now())
        for person in people:
            person.organization_id = target.pk
        matching.people_keys_write(people)  # a person's name is compared within their organisation
    moved[Person._meta.label_lower] = len(people)
    for label, count in _movers_run(MergedKind.ORGANIZATION, source, target, actor).items():
        moved[label] = moved.get(label, 0) + count

    fills = _organization_fills(target, source)
    if fills:
        target = organization_update(organization=target, actor=actor, actor_label=actor_label, **fills)
    if not extensions.organization_scorers() and (source.fit_score or 0) > (target.fit_score or 0):
        # No profile scores organisations here: the better of the two scores stays, with its reasons.
        Organization.objects.filter(pk=target.pk).update(fit_score=source.fit_score, fit_explanation=source.fit_explanation)
        target.fit_score, target.fit_explanation = source.fit_score, source.fit_explanation
    customers_since_mark([target.pk])

    _nothing_left_behind(source, ignore=(MatchKey,))
    name, merged_id = source.name, source.pk
    _history_record(MergedKind.ORGANIZATION, source=source, target=target, moved=moved, before=before, actor=actor,
                    actor_label=actor_label)
    source.delete()
    target.refresh_from_db()
    return MergeResult(survivor=target, merged_id=merged_id, merged_name=name, moved=moved)


# --- People -------------------------------------------------------------------------------------


def better_role(kept: ContactRole | None, other: ContactRole | None) -> ContactRole | None:
    """The more meaningful of two roles on one deal: a role beats none; of two, the one the admins
    list first (decision maker before user); on a tie the survivor's."""
    if kept is None or other is None:
        return kept or other
    return other if (other.position, other.pk) < (kept.position, kept.pk) else kept


def _deal_contacts_move(source: Person, target: Person, actor, actor_label: str) -> int:
    # Locked without joining the (nullable) role: PostgreSQL refuses FOR UPDATE on an outer join.
    contacts = list(DealContact.objects.select_for_update().filter(person__in=[source.pk, target.pk]).order_by("pk"))
    if not contacts:
        return 0
    roles = ContactRole.objects.in_bulk({c.role_id for c in contacts if c.role_id})
    for contact in contacts:
        contact.role = roles.get(contact.role_id)
    kept = {c.deal_id: c for c in contacts if c.person_id == target.pk}
    moving, dropped, audit = [], [], {}
    label = _("contact")
    for contact in (c for c in contacts if c.person_id == source.pk):
        mine = kept.get(contact.deal_id)
        changes = {f"contact {source.pk} {source.name}": [str(contact.role or label), None]}
        if mine is None:
            moving.append(contact.pk)
            changes[f"contact {target.pk} {target.name}"] = [None, str(contact.role or label)]
        else:
            dropped.append(contact.pk)
            role = better_role(mine.role, contact.role)
            if role != mine.role:
                changes[f"contact {target.pk} {target.name}"] = [str(mine.role or label), str(role or label)]
                mine.role = role
                mine.save(update_fields=["role"])
        audit[contact.deal_id] = changes
    DealContact.objects.filter(pk__in=dropped).delete()
    DealContact.objects.filter(pk__in=moving).update(person=target)
    deals = Deal.objects.in_bulk(list(audit))
    config_changes_record_many(
        rows=[(deals[deal_id], ConfigAction.UPDATE, changes) for deal_id, changes in audit.items()],
        actor=actor, actor_label=actor_label,
    )
    return len(moving) + len(dropped)


def _later_consent(target: Person, source: Person) -> dict:
    """The source's consent, when it is the later recorded statement (a known answer beats "not
    asked"); {} when the survivor's stays."""
    if source.consent == Consent.UNKNOWN:
        return {}
    newer = target.consent == Consent.UNKNOWN or (
        source.consent_at is not None and (target.consent_at is None or source.consent_at > target.consent_at)
    )
    if not newer:
        return {}
    return {"consent": source.consent, "consent_source": source.consent_source, "consent_at": source.consent_at}


@transaction.atomic
def people_merge(*, survivor: Person | int, merged: Person | int, actor, actor_label: str = "") -> MergeResult:
    """Merge person `merged` into `survivor` (see the module's description)."""
    ids = [_pk(survivor), _pk(merged)]
    # The organisation service locks an organisation before its contact: so do we.
    list(Organization.objects.select_for_update().filter(main_contact__in=ids).order_by("pk").values_list("pk", flat=True))
    target, source = _lock_pair(Person, survivor, merged)
    for person in (target, source):
        if person.erased_at is not None:
            raise MergeRefused(
                _("The personal data of person #%(id)s was erased; an erased person cannot be merged.") % {"id": person.pk},
                code="erased",
            )
    if actor is not None and not selectors.can_merge_persons(actor, target, source):
        raise MergeRefused(_("You may merge only people you may change, both of them."), code="forbidden")
    before = model_snapshot(source, exclude=("email", "phone", "updated_at"))
    moved = {DealContact._meta.label_lower: _deal_contacts_move(source, target, actor, actor_label)}
    for label, count in _movers_run(MergedKind.PERSON, source, target, actor).items():
        moved[label] = moved.get(label, 0) + count

    fills = {
        name: getattr(source, name) for name in PERSON_FILLED
        if not getattr(target, name) and getattr(source, name)
    }
    fills.update(_later_consent(target, source))
    if source.created_at < target.created_at:
        fills["created_at"] = source.created_at
    emails = [EmailValue(e.address, e.kind) for e in target.emails.all()]
    new_emails = [EmailValue(e.address, e.kind) for e in source.emails.all() if e.address not in {x.address for x in emails}]
    phones = [PhoneValue(p.number, p.kind) for p in target.phones.all()]
    known_digits = {p.digits for p in target.phones.all()}
    new_phones = [PhoneValue(p.number, p.kind) for p in source.phones.all() if p.digits not in known_digits]
    moved[PersonEmail._meta.label_lower] = len(new_emails)
    moved[PersonPhone._meta.label_lower] = len(new_phones)
    target = person_update(
        person=target, actor=actor, actor_label=actor_label,
        emails=emails + new_emails if new_emails else None, phones=phones + new_phones if new_phones else None,
        **fills,
    )

    # Organisations whose main contact was the merged person: now the survivor (rescored: the
    # profile may ask for a contact with an e-mail address or phone number).
    organizations = list(Organization.objects.filter(main_contact=source).select_related("main_contact").order_by("pk"))
    for organization in organizations:
        organization.main_contact = target
    organizations_score(organizations)
    Organization.objects.bulk_update(organizations, ["main_contact", "fit_score", "fit_explanation"])
    config_changes_record_many(
        rows=[(o, ConfigAction.UPDATE, {"main_contact": [source.name, target.name]}) for o in organizations],
        actor=actor, actor_label=actor_label,
    )
    moved[Organization._meta.label_lower] = len(organizations)

    PersonEmail.objects.filter(person=source).delete()
    PersonPhone.objects.filter(person=source).delete()
    _nothing_left_behind(source, ignore=(MatchKey,))
    name, merged_id = source.name, source.pk
    _history_record(MergedKind.PERSON, source=source, target=target, moved=moved, before=before, actor=actor,
                    actor_label=actor_label)
    source.delete()
    target.refresh_from_db()
    return MergeResult(survivor=target, merged_id=merged_id, merged_name=name, moved=moved)


def survivor_of(kind: str, pk) -> int | None:
    """The id of the record that organisation or person `pk` was merged into, if it was."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return MergedRecord.objects.filter(kind=kind, old_id=pk).values_list("survivor_id", flat=True).first()
