"""pipeline.merging: a merge of two organisations or two people moves everything to the survivor
in one transaction, refuses what it must, and leaves history behind."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ConfigChange
from activities.models import Activity, Note
from offers.models import Offer
from pipeline import extensions, merging
from pipeline.models import (
    Consent, ContactRole, Deal, DealChange, DealContact, DealField, MatchKey, MergedRecord, Organization, Person,
    PersonEmail, PersonPhone,
)
from pipeline.organizations import organization_create
from pipeline.people import deal_contact_add, person_create
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def published(monkeypatch):
    """The `directory.merged` events the merges publish (their payloads)."""
    events = []
    monkeypatch.setattr(merging.records_merged, "publish", lambda **payload: events.append(payload) or [])
    return events


def role(name):
    return ContactRole.objects.get_or_create(name=name, defaults={"position": 99})[0]


def activity(**subject):
    return Activity.objects.create(
        kind="call", title="Call", due_at=timezone.now() + timedelta(days=1), owner=subject.pop("owner"), **subject,
    )


def world_counts() -> dict:
    return {
        "deals": Deal.objects.count(), "people": Person.objects.count(), "activities": Activity.objects.count(),
        "notes": Note.objects.count(), "offers": Offer.objects.count(), "deal contacts": DealContact.objects.count(),
        "amount": sum(d.amount or 0 for d in Deal.objects.all()),
    }


@pytest.fixture
def two_acmes(admin, rep):
    """The same company twice, each with deals (one with an offer), people, activities and notes."""
    from offers import services as offers

    kept = organization_create(actor=admin, name="ACME GmbH", owner=rep, domains="acme.de", industry="",
                               contact_name="Anna Schmidt", contact_email="anna@acme.de")
    other = organization_create(actor=admin, name="Acme", owner=rep, domains="acme.com", industry="Software", country="DE",
                                phone="+49 30 1234567", contact_name="Bernd Bauer", contact_email="bernd@acme.com")
    deals = [DealFactory(owner=rep, organization=o, title=f"Deal {i}") for i, o in enumerate([kept, other, other])]
    offers.offer_create(deal=deals[1], actor=rep)
    carla = person_create(actor=admin, name="Carla", organization=other, emails=["carla@acme.com"])
    deal_contact_add(deal=deals[1], person=carla, actor=admin, role=role("Champion"))
    activity(owner=rep, organization=other)
    activity(owner=rep, organization=kept)
    Note.objects.create(organization=other, author=rep, body="Met at the fair")
    activity(owner=rep, deal=deals[2])
    return kept, other, deals


# --- Organisations -----------------------------------------------------------------------------------


def test_an_organisation_merge_moves_every_related_row_and_loses_nothing(two_acmes, admin, rep, published):
    kept, other, deals = two_acmes
    before = world_counts()
    result = merging.organizations_merge(survivor=kept, merged=other, actor=admin)

    assert world_counts() == before  # nothing created or deleted but the merged record
    assert not Organization.objects.filter(pk=other.pk).exists()
    assert set(Deal.objects.values_list("organization_id", flat=True)) == {kept.pk}
    assert Person.objects.filter(organization=kept).count() == 3  # Anna, Bernd and Carla
    assert Activity.objects.filter(organization=kept).count() == 2 and Note.objects.get().organization == kept
    assert Offer.objects.get().deal.organization == kept
    assert result.moved == {
        "pipeline.deal": 2, "pipeline.person": 2, "activities.activity": 1, "activities.note": 1,
    }
    # The deals say so in their history, with a new version (an open board shows them as changed).
    changes = DealChange.objects.filter(field=DealField.ORGANIZATION)
    assert sorted(changes.values_list("deal_id", "old_value", "new_value")) == [
        (deals[1].pk, str(other.pk), str(kept.pk)), (deals[2].pk, str(other.pk), str(kept.pk)),
    ]
    assert Deal.objects.get(pk=deals[1].pk).version == 2 and Deal.objects.get(pk=deals[0].pk).version == 1
    assert published == [{
        "kind": "organization", "survivor_id": kept.pk, "merged_id": other.pk, "actor_id": admin.pk,
        "moved": {"pipeline.deal": 2, "pipeline.person": 2, "activities.activity": 1, "activities.note": 1},
    }]


def test_the_survivor_gets_the_empty_fields_and_every_domain_of_the_other(two_acmes, admin):
    kept, other, _deals = two_acmes
    merged = merging.organizations_merge(survivor=kept, merged=other, actor=admin).survivor
    assert (merged.name, merged.industry, merged.country, merged.phone) == ("ACME GmbH", "Software", "DE", "+49 30 1234567")
    assert merged.domain_list == ["acme.de", "acme.com"]
    assert merged.main_contact.name == "Anna Schmidt"  # the survivor's own stays
    # Its match keys are the united ones: the merged record's phone and domain find it now.
    assert {("domain", "acme.com"), ("phone", "301234567")} <= set(
        MatchKey.objects.filter(organization=merged).values_list("kind", "value")
    )


def test_the_merge_is_recorded_in_history_with_a_tombstone(two_acmes, admin):
    kept, other, _deals = two_acmes
    merging.organizations_merge(survivor=kept, merged=other, actor=admin)
    merge_row = ConfigChange.objects.get(action="merge")
    assert (merge_row.object_id, merge_row.actor) == (str(kept.pk), admin)
    assert merge_row.changes["merged"] == [None, f"#{other.pk} Acme"]
    assert merge_row.changes["moved pipeline.deal"] == [None, "2"]
    deleted = ConfigChange.objects.get(action="delete", object_id=str(other.pk))
    assert deleted.changes["name"] == ["Acme", None] and deleted.changes["merged into"] == [None, f"#{kept.pk} ACME GmbH"]
    assert MergedRecord.objects.get().survivor_id == kept.pk
    assert merging.survivor_of("organization", other.pk) == kept.pk and merging.survivor_of("organization", kept.pk) is None


def test_tombstones_follow_the_survivor_when_it_is_merged_again(admin):
    a, b, c = (organization_create(actor=admin, name=name) for name in ("Acme", "ACME AG", "Acme Inc."))
    merging.organizations_merge(survivor=b, merged=a, actor=admin)
    merging.organizations_merge(survivor=c, merged=b, actor=admin)
    assert dict(MergedRecord.objects.values_list("old_id", "survivor_id")) == {a.pk: c.pk, b.pk: c.pk}


def test_the_survivor_is_rescored_through_the_organisation_service(admin):
    from qualification.models import Criterion, Profile

    profile = Profile.objects.create(name="ICP", is_active=True)
    Criterion.objects.create(profile=profile, attribute="industry", values="Software", weight=1)
    kept = organization_create(actor=admin, name="Acme")
    other = organization_create(actor=admin, name="Acme GmbH", industry="Software")
    assert (kept.fit_score, other.fit_score) == (0, 100)
    assert merging.organizations_merge(survivor=kept, merged=other, actor=admin).survivor.fit_score == 100


def test_without_a_profile_the_better_fit_score_stays(admin, monkeypatch):
    monkeypatch.setattr(extensions, "_organization_scorers", {})
    kept = organization_create(actor=admin, name="Acme")
    other = organization_create(actor=admin, name="Acme GmbH")
    Organization.objects.filter(pk=other.pk).update(fit_score=70, fit_explanation={"by": "hand"})
    Organization.objects.filter(pk=kept.pk).update(fit_score=40)
    merged = merging.organizations_merge(survivor=kept, merged=other, actor=admin).survivor
    assert (merged.fit_score, merged.fit_explanation) == (70, {"by": "hand"})


def test_a_failing_mover_rolls_the_whole_merge_back(two_acmes, admin, monkeypatch, published):
    kept, other, _deals = two_acmes

    def broken_mover(**kwargs):
        raise RuntimeError("the mail server is gone")

    monkeypatch.setitem(extensions._merge_movers, "zz_broken", broken_mover)
    before, audit = world_counts(), ConfigChange.objects.count()
    with pytest.raises(RuntimeError):
        merging.organizations_merge(survivor=kept, merged=other, actor=admin)
    assert world_counts() == before and ConfigChange.objects.count() == audit
    assert Organization.objects.filter(pk=other.pk).exists()
    assert Deal.objects.filter(organization=other).count() == 2 and Person.objects.filter(organization=other).count() == 2
    assert not MergedRecord.objects.exists() and not DealChange.objects.filter(field=DealField.ORGANIZATION).exists()
    assert Organization.objects.get(pk=kept.pk).industry == "" and published == []


def test_rows_that_no_mover_moves_refuse_the_merge_instead_of_being_deleted(two_acmes, admin, monkeypatch):
    kept, other, _deals = two_acmes
    monkeypatch.setitem(extensions._merge_movers, "activities", lambda **kwargs: {})
    before = world_counts()
    with pytest.raises(merging.MergeRefused) as refused:
        merging.organizations_merge(survivor=kept, merged=other, actor=admin)
    assert refused.value.code == "unmoved"
    assert "activities" in refused.value.message and "notes" in refused.value.message and "“Acme”" in refused.value.message
    assert world_counts() == before and Organization.objects.filter(pk=other.pk).exists()


def test_the_rows_are_locked_in_primary_key_order_whichever_survives(admin):
    first, second = organization_create(actor=admin, name="Acme"), organization_create(actor=admin, name="ACME AG")
    with CaptureQueriesContext(connection) as captured:
        merging.organizations_merge(survivor=second, merged=first, actor=admin)
    locking = [q["sql"] for q in captured.captured_queries if 'FROM "pipeline_organization"' in q["sql"] and " IN (" in q["sql"]][0]
    assert f"IN ({first.pk}, {second.pk})" in locking or f"IN ({second.pk}, {first.pk})" in locking
    # On PostgreSQL the statement ends in FOR UPDATE (tests/integration/test_merge_concurrency.py).
    assert 'ORDER BY "pipeline_organization"."id" ASC' in locking
    assert captured.captured_queries.index(next(q for q in captured.captured_queries if q["sql"] == locking)) <= 1


@pytest.mark.parametrize("who", ["teammate", "outsider"])
def test_only_who_may_change_both_organisations_may_merge_them(rep, admin, who):
    team = rep.team
    user = UserFactory(username=who, role="rep", team=team if who == "teammate" else TeamFactory(name="South"))
    mine, also_mine = organization_create(actor=rep, name="Acme", owner=rep), organization_create(actor=rep, name="Acme AG", owner=rep)
    with pytest.raises(merging.MergeRefused) as refused:
        merging.organizations_merge(survivor=mine, merged=also_mine, actor=user)
    assert refused.value.code == "forbidden" and Organization.objects.filter(pk=also_mine.pk).exists()
    theirs = organization_create(actor=user, name="Acme SE", owner=user)
    with pytest.raises(merging.MergeRefused):
        merging.organizations_merge(survivor=mine, merged=theirs, actor=rep)  # rep may change only one of them
    assert merging.organizations_merge(survivor=mine, merged=also_mine, actor=rep).survivor == mine


def test_a_record_cannot_be_merged_with_itself_or_with_another_kind_or_twice(admin, rep):
    org = organization_create(actor=admin, name="Acme", contact_name="Anna")
    with pytest.raises(merging.MergeRefused) as refused:
        merging.organizations_merge(survivor=org, merged=org.pk, actor=admin)
    assert refused.value.code == "same" and refused.value.message == "A record cannot be merged with itself."
    with pytest.raises(merging.MergeRefused) as refused:
        merging.records_merge(survivor=org, merged=org.main_contact, actor=admin)
    assert refused.value.code == "different_kinds"
    other = organization_create(actor=admin, name="Acme AG")
    merging.records_merge(survivor=org, merged=other, actor=admin)
    with pytest.raises(merging.MergeRefused) as refused:
        merging.records_merge(survivor=org, merged=other, actor=admin)
    assert refused.value.code == "gone"


# --- People -------------------------------------------------------------------------------------------


@pytest.fixture
def two_annas(admin, rep):
    acme = organization_create(actor=admin, name="Acme", owner=rep)
    earlier = timezone.now() - timedelta(days=30)
    kept = person_create(actor=admin, name="Anna Schmidt", organization=acme, owner=rep, emails=["anna@acme.de"],
                         phones=["030 1234567"], consent=Consent.GRANTED, consent_source="web form", consent_at=earlier)
    other = person_create(actor=admin, name="Schmidt, Anna", job_title="CTO", owner=rep,
                          emails=["ANNA@acme.de", "anna.schmidt@gmail.com"], phones=["+49 30 1234567", "0171 2345678"],
                          consent=Consent.WITHDRAWN, consent_source="phone call", consent_at=earlier + timedelta(days=10))
    return acme, kept, other


def test_a_person_merge_moves_deal_roles_activities_notes_and_main_contacts(two_annas, admin, rep, stages, published):
    acme, kept, other = two_annas
    both, only_other, third = (DealFactory(owner=rep, organization=acme) for _ in range(3))
    deal_contact_add(deal=both, person=kept, actor=admin, role=role("User"))
    deal_contact_add(deal=both, person=other, actor=admin, role=role("Decision maker"))
    deal_contact_add(deal=only_other, person=other, actor=admin, role=None)
    deal_contact_add(deal=third, person=kept, actor=admin, role=role("Champion"))
    deal_contact_add(deal=third, person=other, actor=admin, role=None)
    activity(owner=rep, person=other)
    Note.objects.create(person=other, author=rep, body="Prefers e-mail")
    elsewhere = organization_create(actor=admin, name="Other Co")
    Organization.objects.filter(pk=elsewhere.pk).update(main_contact=other)
    before = world_counts()

    result = merging.people_merge(survivor=kept, merged=other, actor=admin)

    assert not Person.objects.filter(pk=other.pk).exists()
    after = world_counts()
    assert after == {**before, "people": before["people"] - 1, "deal contacts": before["deal contacts"] - 2}
    roles = {c.deal_id: (c.person_id, c.role.name if c.role else None) for c in DealContact.objects.filter(deal__in=[both, only_other, third])}
    # On a deal where both were: one place, the more meaningful role (listed first; a role beats none).
    assert roles == {both.pk: (kept.pk, "Decision maker"), only_other.pk: (kept.pk, None), third.pk: (kept.pk, "Champion")}
    assert Activity.objects.get(person__isnull=False).person == kept and Note.objects.get().person == kept
    assert Organization.objects.get(pk=elsewhere.pk).main_contact == kept
    assert result.moved["pipeline.dealcontact"] == 3 and result.moved["pipeline.organization"] == 1
    assert published[0]["kind"] == "person" and published[0]["merged_id"] == other.pk


def test_a_person_merge_unites_addresses_and_numbers_and_keeps_the_later_consent(two_annas, admin):
    acme, kept, other = two_annas
    merged = merging.people_merge(survivor=kept, merged=other, actor=admin).survivor
    assert list(merged.emails.values_list("address", flat=True)) == ["anna@acme.de", "anna.schmidt@gmail.com"]
    # "+49 30 1234567" has other digits than "030 1234567": both numbers are kept, nothing is lost.
    assert list(merged.phones.values_list("number", flat=True)) == ["030 1234567", "+49 30 1234567", "0171 2345678"]
    assert (merged.name, merged.job_title, merged.organization, merged.email) == ("Anna Schmidt", "CTO", acme, "anna@acme.de")
    assert (merged.consent, merged.consent_source) == (Consent.WITHDRAWN, "phone call")  # the later statement
    assert not PersonEmail.objects.filter(person_id=other.pk).exists() and not PersonPhone.objects.filter(person_id=other.pk).exists()
    assert not MatchKey.objects.filter(person_id=other.pk).exists()
    assert ("email", "anna.schmidt@gmail.com") in set(MatchKey.objects.filter(person=merged).values_list("kind", "value"))


def test_an_erased_person_cannot_be_merged(two_annas, admin):
    _acme, kept, other = two_annas
    Person.objects.filter(pk=other.pk).update(erased_at=timezone.now())
    with pytest.raises(merging.MergeRefused) as refused:
        merging.people_merge(survivor=kept, merged=other, actor=admin)
    assert refused.value.code == "erased" and f"#{other.pk}" in refused.value.message


def test_only_who_may_change_both_people_may_merge_them(two_annas, rep, admin):
    _acme, kept, other = two_annas
    stranger = person_create(actor=admin, name="Anna S.", owner=UserFactory(username="olga", role="rep"))
    with pytest.raises(merging.MergeRefused) as refused:
        merging.people_merge(survivor=kept, merged=stranger, actor=rep)
    assert refused.value.code == "forbidden"
    teammate = UserFactory(username="tom", role="rep", team=rep.team)
    with pytest.raises(merging.MergeRefused):
        merging.people_merge(survivor=kept, merged=other, actor=teammate)
    assert merging.people_merge(survivor=kept, merged=other, actor=rep).survivor == kept


def test_better_role_prefers_a_role_and_then_the_one_listed_first():
    first, later = ContactRole(pk=1, name="Decision maker", position=0), ContactRole(pk=2, name="User", position=4)
    assert merging.better_role(None, later) == later and merging.better_role(later, None) == later
    assert merging.better_role(later, first) == first and merging.better_role(first, later) == first
    assert merging.better_role(None, None) is None
