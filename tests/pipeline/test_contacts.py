"""People on deals: the entry rules that ask for a contact or a role, the services that put people
on deals, and the day an organisation becomes a customer."""
from datetime import date, datetime
from datetime import timezone as dt_timezone

import pytest

from accounts.models import ConfigChange
from pipeline import services
from pipeline.exceptions import MoveRefused, PipelineError
from pipeline.models import ContactRole, DealContact, Organization, Person, Transition
from pipeline.people import (
    EmailValue, PhoneValue, deal_contact_add, deal_contact_remove, person_create, person_update,
)
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bare_deal(rep, stages):
    """A deal at an organisation without any contact, in Meeting & demo."""
    organization = OrganizationFactory(owner=rep, contact_name="", contact_email="")
    return DealFactory(owner=rep, stage=stages["Meeting & demo"], organization=organization, amount=1000)


def _offer_needs(pipeline, stages, **rules):
    Transition.objects.filter(to_stage=stages["Offer"]).delete()
    Transition.objects.create(pipeline=pipeline, to_stage=stages["Offer"], **rules)


def role(name):
    return ContactRole.objects.get(name=name)


def test_a_deal_needs_a_reachable_contact_when_the_stage_asks_for_one(bare_deal, rep, stages, pipeline):
    _offer_needs(pipeline, stages, requires_contact=True)
    with pytest.raises(MoveRefused, match="a contact person with e-mail or phone"):
        services.deal_move(deal=bare_deal, to_stage=stages["Offer"], actor=rep)
    bare_deal.refresh_from_db()
    assert bare_deal.stage == stages["Meeting & demo"]  # a refused move leaves the deal where it was
    nobody = person_create(actor=rep, name="No Number", organization=bare_deal.organization)
    deal_contact_add(deal=bare_deal, person=nobody, actor=rep)
    with pytest.raises(MoveRefused, match="a contact person"):  # a name alone cannot be reached
        services.deal_move(deal=bare_deal, to_stage=stages["Offer"], actor=rep)
    person_update(person=nobody, actor=rep, phones=["+49 30 1234567"])
    assert services.deal_move(deal=bare_deal, to_stage=stages["Offer"], actor=rep).stage == stages["Offer"]


def test_the_organisations_main_contact_counts_as_the_deals_contact(rep, stages, pipeline):
    _offer_needs(pipeline, stages, requires_contact=True)
    organization = OrganizationFactory(owner=rep, contact_name="Jane Doe", contact_email="jane@acme.example")
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], organization=organization)
    DealContact.objects.filter(deal=deal).delete()
    assert services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep).stage == stages["Offer"]


def test_a_stage_can_ask_for_a_decision_maker(bare_deal, rep, stages, pipeline):
    _offer_needs(pipeline, stages, requires_role=role("Decision maker"))
    champion = person_create(actor=rep, name="Carl", organization=bare_deal.organization, emails=["carl@x.example"])
    deal_contact_add(deal=bare_deal, person=champion, role=role("Champion"), actor=rep)
    with pytest.raises(MoveRefused) as refused:
        services.deal_move(deal=bare_deal, to_stage=stages["Offer"], actor=rep)
    assert str(refused.value.message) == "To enter “Offer”, this deal needs a contact who is Decision maker."
    deal_contact_add(deal=bare_deal, person=champion, role=role("Decision maker"), actor=rep)  # changes the role
    assert DealContact.objects.get(deal=bare_deal).role == role("Decision maker")
    assert services.deal_move(deal=bare_deal, to_stage=stages["Offer"], actor=rep).stage == stages["Offer"]


def test_a_new_deal_cannot_start_where_a_role_is_needed(rep, stages, pipeline):
    Transition.objects.filter(to_stage=stages["Prospecting"]).update(requires_role=role("Decision maker"))
    Transition.objects.get_or_create(pipeline=pipeline, from_stage=None, to_stage=stages["Prospecting"],
                                     defaults={"requires_role": role("Decision maker")})
    with pytest.raises(MoveRefused, match="a contact who is Decision maker"):
        services.deal_create(actor=rep, organization=OrganizationFactory(owner=rep), title="T", stage=stages["Prospecting"])


def test_putting_people_on_a_deal_is_audited_and_removing_them_too(bare_deal, rep):
    person = person_create(actor=rep, name="Ann", organization=bare_deal.organization, emails=["ann@x.example"])
    deal_contact_add(deal=bare_deal, person=person, role=role("Influencer"), actor=rep)
    deal_contact_add(deal=bare_deal, person=person, role=role("Influencer"), actor=rep)  # nothing changes
    assert deal_contact_remove(deal=bare_deal, person=person, actor=rep) is True
    assert deal_contact_remove(deal=bare_deal, person=person, actor=rep) is False
    rows = ConfigChange.objects.filter(content_type__model="deal", object_id=str(bare_deal.pk)).order_by("pk")
    assert [list(r.changes.values())[0] for r in rows] == [[None, "Influencer"], ["Influencer", None]]


def test_an_inactive_role_and_an_erased_person_are_refused(bare_deal, rep):
    person = person_create(actor=rep, name="Ann", organization=bare_deal.organization)
    retired = ContactRole.objects.create(name="Sponsor", is_active=False, position=9)
    with pytest.raises(PipelineError, match="no longer used"):
        deal_contact_add(deal=bare_deal, person=person, role=retired, actor=rep)
    Person.objects.filter(pk=person.pk).update(erased_at=datetime(2026, 1, 1, tzinfo=dt_timezone.utc))
    person.refresh_from_db()
    with pytest.raises(PipelineError, match="erased"):
        deal_contact_add(deal=bare_deal, person=person, actor=rep)
    assert not DealContact.objects.filter(person=person).exists()


def test_people_have_several_addresses_and_numbers_with_kinds_and_bad_ones_are_refused_whole(rep):
    person = person_create(
        actor=rep, name="  Erika Muster ", emails=["Erika@Muster.example", EmailValue("erika@home.example", "private"),
                                                  "erika@muster.example"],
        phones=["030 1234567", PhoneValue("+49 171 2345678", "mobile"), "030-1234567"],
    )
    assert (person.name, person.email, person.phone) == ("Erika Muster", "erika@muster.example", "030 1234567")
    assert list(person.emails.values_list("address", "kind")) == [
        ("erika@muster.example", "work"), ("erika@home.example", "private"),
    ]
    assert list(person.phones.values_list("digits", "kind")) == [("0301234567", "work"), ("491712345678", "mobile")]
    with pytest.raises(PipelineError, match="is not an e-mail address"):
        person_update(person=person, actor=rep, name="Changed", emails=["not-an-address"])
    person.refresh_from_db()
    assert person.name == "Erika Muster" and person.emails.count() == 2  # nothing half-written
    with pytest.raises(PipelineError, match="not a phone number"):
        person_create(actor=rep, name="X", phones=["n/a"])
    with pytest.raises(PipelineError, match="Name the person"):
        person_create(actor=rep, name="  ")


def test_an_organisation_is_a_customer_since_its_first_win(rep, stages):
    organization = OrganizationFactory(owner=rep)
    first = DealFactory(owner=rep, stage=stages["Negotiation"], organization=organization, amount=10,
                        expected_close=date(2026, 3, 1))
    second = DealFactory(owner=rep, stage=stages["Negotiation"], organization=organization, amount=10,
                         expected_close=date(2026, 3, 1))
    services.deal_move(deal=second, to_stage=stages["Retention"], actor=rep, at=datetime(2026, 3, 2, 10, tzinfo=dt_timezone.utc))
    organization.refresh_from_db()
    assert organization.customer_since == date(2026, 3, 2)
    services.deal_move(deal=first, to_stage=stages["Retention"], actor=rep, at=datetime(2026, 2, 20, 10, tzinfo=dt_timezone.utc))
    organization.refresh_from_db()
    assert organization.customer_since == date(2026, 2, 20)  # a win recorded later but earlier in time


def test_an_organisation_is_rescored_when_its_main_contact_becomes_reachable(rep):
    from qualification.models import Criterion, Profile

    profile = Profile.objects.create(name="ICP")
    Criterion.objects.create(profile=profile, attribute="has_contact", weight=1)
    organization = OrganizationFactory(owner=rep, contact_name="Jane Doe", contact_email="")
    assert organization.fit_score == 0
    person_update(person=organization.main_contact, actor=rep, emails=["jane@acme.example"])
    organization.refresh_from_db()
    assert organization.fit_score == 100


def test_people_written_in_bulk_get_their_match_keys_like_people_written_one_by_one(rep):
    """The demo's and an import's people are found by the duplicate suggestions too."""
    from pipeline.models import MatchKey
    from pipeline.people import PersonRow, people_bulk_import

    one = person_create(actor=rep, name="Ann Lee", emails=["ann@lee.example"], phones=["030 1234567"])
    (bulk,) = people_bulk_import(
        rows=[PersonRow(Person(name="Ann Lee", owner=rep), emails=["Ann@Lee.example"], phones=["030 1234567"])], actor=rep,
    )
    def keys(person):
        return sorted(MatchKey.objects.filter(person=person).values_list("kind", "value"))

    assert keys(bulk) == keys(one) and keys(one)


def test_many_organisations_become_customers_in_a_fixed_number_of_statements(rep, stages, django_assert_num_queries):
    """An import marks thousands of organisations at once: not one UPDATE each."""
    organizations = [OrganizationFactory(owner=rep) for _ in range(6)]
    for i, organization in enumerate(organizations):
        DealFactory(owner=rep, stage=stages["Retention"], organization=organization, status="won",
                    closed_at=datetime(2026, 1, 1 + i, 10, tzinfo=dt_timezone.utc))
    Organization.objects.filter(pk=organizations[0].pk).update(customer_since=date(2025, 6, 1))  # earlier: kept
    Organization.objects.filter(pk=organizations[1].pk).update(customer_since=date(2026, 5, 1))  # later: corrected
    with django_assert_num_queries(3):  # the first wins, the organisations, one batched UPDATE
        services.customers_since_mark([o.pk for o in organizations])
    since = dict(Organization.objects.filter(pk__in=[o.pk for o in organizations]).values_list("pk", "customer_since"))
    assert since == {o.pk: date(2026, 1, 1 + i) if i else date(2025, 6, 1) for i, o in enumerate(organizations)}
