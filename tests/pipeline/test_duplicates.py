"""Duplicate suggestions: what counts as the same organisation or person (pipeline.matching), found
by the database among the records the user may see (pipeline.duplicates)."""
import pytest

from pipeline import duplicates, matching
from pipeline.models import MatchKey, MatchKind, Organization
from pipeline.organizations import organization_create, organization_update, organizations_bulk_import
from pipeline.people import person_create, person_update
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- What counts as the same ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [
        ("ACME GmbH", "Acme"),
        ("ACME GmbH & Co. KG", "acme"),
        ("Acme, Inc.", "ACME Ltd"),
        ("Müller GmbH", "Mueller AG"),
        ("Société Générale SA", "Societe Generale"),
        ("Data-Soft e.V.", "DataSoft"),
        ("Schröder & Söhne UG (haftungsbeschränkt)", "Schroeder Soehne"),
    ],
)
def test_organisation_names_match_without_legal_form_case_accents_and_punctuation(a, b):
    assert matching.organization_name_key(a) == matching.organization_name_key(b) != ""


@pytest.mark.parametrize("a, b", [("Acme", "Acme Labs"), ("Müller GmbH", "Muller GmbH"), ("Nordwind AG", "Südwind AG")])
def test_different_organisation_names_do_not_match(a, b):
    """"Muller" is not "Müller": German systems write the umlaut as "ue" (decided in matching)."""
    assert matching.organization_name_key(a) != matching.organization_name_key(b)


def test_a_name_that_is_only_a_legal_form_keeps_it():
    assert matching.organization_name_key("AG") == "ag"
    assert matching.organization_name_key("  ") == ""


@pytest.mark.parametrize(
    "a, b",
    [
        ("+49 30 1234567", "030 1234567"),
        ("+49 (0)30 123 45 67", "030/1234567"),
        ("0049 30 1234567", "030-123 45 67"),
        ("+1 (555) 123-4567", "555 123 4567"),
        ("+41 44 668 18 00", "044 668 18 00"),
        ("+39 06 1234 5678", "06 1234 5678"),
    ],
)
def test_phone_numbers_match_in_international_and_national_format(a, b):
    """The digits differ ("49301234567" against "0301234567"); the national number is the same."""
    assert matching.phone_key(a) == matching.phone_key(b) != ""


@pytest.mark.parametrize("a, b", [("+49 30 1234567", "+49 40 1234567"), ("030 1234567", "030 1234568")])
def test_different_phone_numbers_do_not_match(a, b):
    assert matching.phone_key(a) != matching.phone_key(b)


def test_short_numbers_and_extensions_are_not_compared():
    assert matching.phone_key("-12") == "" and matching.phone_key("0 123") == "" and matching.phone_key("") == ""


def test_person_names_match_in_any_order_without_titles():
    assert matching.person_name_key("Dr. Anna Müller") == matching.person_name_key("Mueller, Anna") == "anna mueller"


# --- The keys the services write --------------------------------------------------------------------


def keys(**record):
    return set(MatchKey.objects.filter(**record).values_list("kind", "value"))


def test_an_organisation_is_keyed_by_name_domains_and_phone_but_not_by_free_mail(rep):
    org = organization_create(actor=rep, name="ACME GmbH", domains="www.acme.de acme.com gmail.com", phone="+49 30 1234567")
    assert keys(organization=org) == {
        (MatchKind.NAME, "acme"), (MatchKind.DOMAIN, "acme.de"), (MatchKind.DOMAIN, "acme.com"), (MatchKind.PHONE, "301234567"),
    }
    organization_update(organization=org, actor=rep, name="Acme Labs", phone="")
    assert keys(organization=org) == {(MatchKind.NAME, "acmelabs"), (MatchKind.DOMAIN, "acme.de"), (MatchKind.DOMAIN, "acme.com")}
    organization_update(organization=org, actor=rep, industry="Software")  # no compared field: keys untouched
    assert len(keys(organization=org)) == 3


def test_a_person_is_keyed_by_emails_phones_and_name_at_their_organisation(rep):
    org = organization_create(actor=rep, name="Acme")
    person = person_create(actor=rep, name="Anna Müller", organization=org, emails=["Anna@Acme.de", "anna@gmail.com"],
                           phones=["+49 171 2345678"])
    assert keys(person=person) == {
        (MatchKind.EMAIL, "anna@acme.de"), (MatchKind.EMAIL, "anna@gmail.com"), (MatchKind.PHONE, "1712345678"),
        (MatchKind.NAME, f"{org.pk}:anna mueller"),
    }
    person_update(person=person, actor=rep, organization=None, phones=[])
    assert keys(person=person) == {(MatchKind.EMAIL, "anna@acme.de"), (MatchKind.EMAIL, "anna@gmail.com")}


def test_a_persons_number_that_is_their_organisations_own_is_no_key_of_theirs(rep):
    acme = organization_create(actor=rep, name="Acme", phone="+49 30 1234-0")
    person = person_create(actor=rep, name="Bernd", organization=acme, phones=["030 12340", "0171 2345678"])
    assert {v for k, v in keys(person=person) if k == MatchKind.PHONE} == {"1712345678"}
    organization_update(organization=acme, actor=rep, phone="+49 30 999 999")  # the switchboard moved
    assert {v for k, v in keys(person=person) if k == MatchKind.PHONE} == {"3012340", "1712345678"}


def test_bulk_imports_and_main_contacts_are_keyed(rep):
    created = organizations_bulk_import(
        organizations=[Organization(name="Beta AG", domains="beta.de"), Organization(name="Gamma")], actor=rep,
        contacts=[{"name": "Bea", "email": "bea@beta.de", "phone": "089 123456"}, {}],
    )
    assert keys(organization=created[0]) == {(MatchKind.NAME, "beta"), (MatchKind.DOMAIN, "beta.de")}
    assert (MatchKind.EMAIL, "bea@beta.de") in keys(person=created[0].main_contact)
    assert (MatchKind.PHONE, "89123456") in keys(person=created[0].main_contact)


def test_keys_refresh_all_rewrites_every_records_keys(rep):
    org = organization_create(actor=rep, name="Acme GmbH", contact_name="Anna", contact_email="anna@acme.de")
    MatchKey.objects.all().delete()
    assert matching.keys_refresh_all(batch_size=1) == 2
    assert keys(organization=org) == {(MatchKind.NAME, "acme")}
    assert keys(person=org.main_contact) == {(MatchKind.EMAIL, "anna@acme.de"), (MatchKind.NAME, f"{org.pk}:anna")}


# --- Suggestions ------------------------------------------------------------------------------------


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin", is_superuser=True, is_staff=True)


def suggested(user, kind="organization"):
    _page, found = duplicates.duplicate_suggestions(user, kind=kind)
    return [({r.name for r in s.records}, {(r.kind, r.value) for r in s.reasons}) for s in found]


def test_real_shaped_organisations_are_suggested_with_their_reasons(admin):
    organization_create(actor=admin, name="ACME GmbH", website="https://www.acme.de/impressum")
    organization_create(actor=admin, name="Acme", domains="acme.de")
    organization_create(actor=admin, name="Mueller AG", phone="+49 30 1234567")
    organization_create(actor=admin, name="Müller GmbH", phone="030 1234567")
    organization_create(actor=admin, name="Gmail user one", domains="gmail.com")
    organization_create(actor=admin, name="Gmail user two", domains="gmail.com")
    organization_create(actor=admin, name="Nordwind")
    assert sorted(suggested(admin), key=lambda s: sorted(s[0])) == [
        ({"ACME GmbH", "Acme"}, {("domain", "acme.de"), ("name", "acme")}),
        ({"Mueller AG", "Müller GmbH"}, {("name", "mueller"), ("phone", "301234567")}),
    ]


def test_real_shaped_people_are_suggested_but_not_by_their_switchboard_number(admin):
    acme = organization_create(actor=admin, name="Acme", phone="+49 30 1234-0")
    person_create(actor=admin, name="Anna Schmidt", organization=acme, emails=["a.schmidt@acme.de"], phones=["030 12340"])
    person_create(actor=admin, name="Schmidt, Anna", organization=acme, phones=["+49 30 12340"])
    person_create(actor=admin, name="Bernd Bauer", organization=acme, phones=["+49 (0)30 1234-0"])
    person_create(actor=admin, name="A. Schmidt", emails=["A.Schmidt@acme.de"])
    person_create(actor=admin, name="Anna Schmidt")  # the same name at no organisation says nothing
    found = suggested(admin, "person")
    assert ({"Anna Schmidt", "Schmidt, Anna"}, {("name", "anna schmidt")}) in found
    assert ({"Anna Schmidt", "A. Schmidt"}, {("email", "a.schmidt@acme.de")}) in found
    assert len(found) == 2  # the switchboard number puts nobody together


def test_suggestions_show_only_records_the_user_may_see(admin):
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    rita = UserFactory(username="rita", role="rep", team=north)
    olga = UserFactory(username="olga", role="rep", team=south)
    mine = organization_create(actor=rita, name="Acme GmbH", owner=rita)
    theirs = organization_create(actor=olga, name="ACME AG", owner=olga)
    DealFactory(owner=olga, organization=theirs)
    assert suggested(rita) == [] and suggested(olga) == []
    assert suggested(admin) == [({"Acme GmbH", "ACME AG"}, {("name", "acme")})]
    organization_create(actor=rita, name="Acme", owner=rita)
    assert suggested(rita) == [({"Acme GmbH", "Acme"}, {("name", "acme")})]
    assert [s.records[0] for s in duplicates.duplicates_of(rita, mine)][0].name == "Acme"


def test_the_oldest_record_is_offered_to_keep(admin):
    first = organization_create(actor=admin, name="Acme")
    organization_create(actor=admin, name="ACME GmbH")
    _page, (suggestion,) = duplicates.duplicate_suggestions(admin)
    assert suggestion.keep == first and [o.name for o in suggestion.others] == ["ACME GmbH"]


def test_suggestions_cost_the_same_queries_for_more_duplicates(admin, django_assert_max_num_queries):
    def make(start, end):
        for i in range(start, end):
            organization_create(actor=admin, name=f"Firma {i} GmbH", domains=f"firma{i}.de")
            organization_create(actor=admin, name=f"Firma {i}", domains=f"firma{i}.de")

    make(0, 2)
    with django_assert_max_num_queries(4) as few:
        assert len(duplicates.duplicate_suggestions(admin)[1]) == 2
    make(2, 12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(duplicates.duplicate_suggestions(admin, per_page=10)[1]) == 5  # 10 groups, two reasons each


def test_people_suggestions_with_visibility_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    team = TeamFactory(name="North")
    manager = UserFactory(username="max", role="manager", team=team)
    rep = UserFactory(username="rita", role="rep", team=team)
    org = organization_create(actor=rep, name="Acme", owner=rep)
    for i in range(8):
        person_create(actor=rep, name=f"Person {i}", organization=org, owner=rep, emails=[f"p{i}@acme.de"])
        person_create(actor=rep, name=f"P. {i}", organization=org, owner=rep, emails=[f"P{i}@acme.de"])
    with django_assert_max_num_queries(4):
        assert len(duplicates.duplicate_suggestions(manager, kind="person")[1]) == 8


def test_the_data_migration_keys_existing_records_as_the_services_do(rep):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("pipeline.migrations.0015_match_keys_of_existing_records")
    org = organization_create(actor=rep, name="ACME GmbH", domains="acme.de web.de", phone="030 1234567",
                              contact_name="Dr. Anna Müller", contact_email="anna@acme.de", contact_phone="+49 171 2345678")
    person_create(actor=rep, name="Bernd", emails=["b@example.com", "B2@example.com"])
    person_create(actor=rep, name="Carl", organization=org, phones=["+49 30 1234567", "089 7654321"])  # switchboard, own
    written = set(MatchKey.objects.values_list("organization_id", "person_id", "kind", "value"))
    MatchKey.objects.all().delete()
    migration.keys_create(apps, None)
    assert set(MatchKey.objects.values_list("organization_id", "person_id", "kind", "value")) == written
    assert (None, org.main_contact_id, "name", f"{org.pk}:anna mueller") in written
    assert {v for _o, _p, k, v in written if k == "phone"} == {"301234567", "1712345678", "897654321"}


def test_suggestions_come_a_page_at_a_time_with_previous_and_next(admin):
    for i in range(5):
        organization_create(actor=admin, name=f"Firma {i} GmbH")
        organization_create(actor=admin, name=f"Firma {i}")
    first, found = duplicates.duplicate_suggestions(admin, per_page=2)
    assert (first.number, first.has_previous, first.has_next, len(found)) == (1, False, True, 2)
    last, found = duplicates.duplicate_suggestions(admin, page="3", per_page=2)
    assert (last.has_previous, last.has_next, [s.keep.name for s in found]) == (True, False, ["Firma 4 GmbH"])
    assert duplicates.duplicate_suggestions(admin, page="nonsense", per_page=2)[0].number == 1
    assert duplicates.duplicate_suggestions(admin, page=9, per_page=2)[1] == []
