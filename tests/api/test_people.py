"""People: visible ones listed and read, changeable ones updated through pipeline.people, their
e-mail addresses and phone numbers as lists with kinds, owners limited to assignable people."""
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ConfigChange
from pipeline.models import Person
from pipeline.people import EmailValue, PhoneValue, person_create
from tests.api.conftest import client_for, token_client
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def a_person(owner, *, name="Ann Example", organization=None, emails=("ann@example.com",), phones=(), **fields):
    return person_create(actor=owner, name=name, owner=owner, organization=organization, emails=emails, phones=phones,
                         **fields)


@pytest.fixture
def own_person(rep):
    return a_person(rep, organization=OrganizationFactory(owner=rep, name="Rita's Org"),
                    emails=[EmailValue("ann@example.com"), EmailValue("ann@home.example", "private")],
                    phones=[PhoneValue("+49 30 1234-5", "mobile")])


@pytest.mark.parametrize(
    "who, read, change",
    [
        ("rep", 200, 200),
        ("teammate", 200, 403),  # reps see their teammates' people read-only (the default setting)
        ("manager", 200, 200),
        ("other_rep", 404, 404),
        ("other_manager", 404, 404),
        ("admin_user", 200, 200),
    ],
)
def test_person_access(who, read, change, request, own_person):
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/people/{own_person.pk}/").status_code == read
    response = client.patch(f"/api/v1/people/{own_person.pk}/", {"job_title": "CTO"}, format="json")
    assert response.status_code == change, response.content
    own_person.refresh_from_db()
    assert (own_person.job_title == "CTO") == (change == 200)


def test_a_person_the_caller_may_only_read_is_refused_before_the_input_is_checked(teammate, own_person):
    response = client_for(teammate).patch(f"/api/v1/people/{own_person.pk}/", {"emails": [{"address": "x"}]}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_anonymous_and_revoked_tokens_cannot_read_people(rep, own_person):
    assert APIClient().get("/api/v1/people/").status_code == 401
    client, token = token_client(rep)
    assert client.get(f"/api/v1/people/{own_person.pk}/").status_code == 200
    token.revoke()
    assert client.get(f"/api/v1/people/{own_person.pk}/").status_code == 401


def test_a_person_reads_with_addresses_and_numbers_in_order(rep, own_person):
    body = client_for(rep).get(f"/api/v1/people/{own_person.pk}/").json()
    assert body["emails"] == [{"address": "ann@example.com", "kind": "work"},
                              {"address": "ann@home.example", "kind": "private"}]
    assert body["phones"] == [{"number": "+49 30 1234-5", "kind": "mobile"}]
    assert (body["email"], body["phone"]) == ("ann@example.com", "+49 30 1234-5")
    assert body["organization_name"] == "Rita's Org" and body["owner"] == rep.pk and body["erased_at"] is None


def test_create_a_person_owned_by_the_caller(rep):
    organization = OrganizationFactory(owner=rep)
    response = client_for(rep).post("/api/v1/people/", {
        "name": "  Bea Buyer ", "organization": organization.pk, "job_title": "Head of Purchasing",
        "emails": [{"address": "Bea@Example.COM"}, {"address": "bea@private.example", "kind": "private"}],
        "phones": [{"number": "0171 555 12 34", "kind": "mobile"}], "language": "de", "consent": "granted",
        "consent_source": "Trade fair form", "consent_at": "2026-03-01T10:00:00Z",
    }, format="json")
    assert response.status_code == 201, response.content
    person = Person.objects.get(pk=response.json()["id"])
    assert (person.name, person.owner, person.organization, person.email) == ("Bea Buyer", rep, organization, "bea@example.com")
    assert [(e.address, e.kind) for e in person.emails.all()] == [("bea@example.com", "work"), ("bea@private.example", "private")]
    assert [(p.number, p.kind, p.digits) for p in person.phones.all()] == [("0171 555 12 34", "mobile", "01715551234")]
    assert response.json()["emails"][0] == {"address": "bea@example.com", "kind": "work"}
    assert ConfigChange.objects.filter(object_id=str(person.pk), action="create").exists()  # the service's audit


def test_create_a_person_at_no_organisation(rep):
    response = client_for(rep).post("/api/v1/people/", {"name": "Solo"}, format="json")
    assert response.status_code == 201 and response.json()["organization"] is None
    assert response.json()["organization_name"] is None and response.json()["emails"] == []


def test_create_a_person_for_someone_else_needs_a_manager(rep, teammate, manager):
    body = {"name": "Cid", "owner": teammate.pk}
    response = client_for(rep).post("/api/v1/people/", body, format="json")
    assert response.status_code == 400 and "owner" in response.json()
    assert client_for(manager).post("/api/v1/people/", body, format="json").json()["owner"] == teammate.pk


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({}, "name"),
        ({"name": "A", "emails": [{"address": "not an address"}]}, "emails"),
        ({"name": "A", "emails": ["a@example.com"]}, "emails"),  # an object with its kind, not a string
        ({"name": "A", "emails": [{"address": "a@example.com", "kind": "pager"}]}, "emails"),
        ({"name": "A", "emails": "a@example.com"}, "emails"),
        ({"name": "A", "phones": [{"number": "12"}]}, "phones"),  # the service: not a phone number
        ({"name": "A", "phones": [{"number": "+49 30 1234", "kind": "fax"}]}, "phones"),
        ({"name": "A", "phones": [{"number": "1" * 51}]}, "phones"),
        ({"name": "A", "language": "fr"}, "language"),
        ({"name": "A", "consent": "maybe"}, "consent"),
        ({"name": "A", "consent_at": "yesterday"}, "consent_at"),
        ({"name": "A", "organization": 999999}, "organization"),
        ({"name": "A", "organization": "x"}, "organization"),
        ({"name": "A", "email": "a@example.com"}, "email"),  # read-only: the first of `emails`
        ({"name": "A", "erased_at": "2026-01-01T00:00:00Z"}, "erased_at"),
        ({"name": "A", "nickname": "Al"}, "nickname"),
    ],
)
def test_bad_people_are_field_errors(rep, body, field):
    response = client_for(rep).post("/api/v1/people/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()  # code "invalid", or the service's (invalid_phone)
    assert not Person.objects.filter(owner=rep).exists()


def test_a_read_only_field_says_where_it_is_changed(rep):
    response = client_for(rep).post("/api/v1/people/", {"name": "A", "email": "a@example.com"}, format="json")
    assert "emails" in response.json()["email"][0]


def test_an_organisation_the_caller_may_not_see_is_a_field_error(rep, other_rep):
    hidden = OrganizationFactory(owner=other_rep)
    response = client_for(rep).post("/api/v1/people/", {"name": "A", "organization": hidden.pk}, format="json")
    assert response.status_code == 400 and "organization" in response.json()
    assert str(hidden.pk) in response.json()["organization"][0]  # "does not exist", as for any unknown id


def test_patch_replaces_addresses_only_when_sent(rep, own_person):
    client = client_for(rep)
    response = client.patch(f"/api/v1/people/{own_person.pk}/", {"job_title": "CFO"}, format="json")
    assert [e["address"] for e in response.json()["emails"]] == ["ann@example.com", "ann@home.example"]
    response = client.patch(
        f"/api/v1/people/{own_person.pk}/", {"emails": [{"address": "ann@new.example"}], "phones": []}, format="json"
    )
    assert response.status_code == 200, response.content
    own_person.refresh_from_db()
    assert (own_person.email, own_person.phone, own_person.job_title) == ("ann@new.example", "", "CFO")
    assert response.json()["emails"] == [{"address": "ann@new.example", "kind": "work"}] and response.json()["phones"] == []


def test_patch_moves_a_person_to_another_visible_organisation_or_to_none(rep, own_person):
    other = OrganizationFactory(owner=rep, name="Other Org")
    client = client_for(rep)
    assert client.patch(f"/api/v1/people/{own_person.pk}/", {"organization": other.pk}, format="json").json()[
        "organization_name"] == "Other Org"
    assert client.patch(f"/api/v1/people/{own_person.pk}/", {"organization": None}, format="json").json()[
        "organization"] is None


def test_an_erased_person_cannot_be_changed(rep, admin_user, own_person):
    Person.objects.filter(pk=own_person.pk).update(erased_at=timezone.now(), name="Erased")
    for user in (rep, admin_user):
        response = client_for(user).patch(f"/api/v1/people/{own_person.pk}/", {"name": "Back"}, format="json")
        assert response.status_code == 403
    assert client_for(rep).get(f"/api/v1/people/{own_person.pk}/").json()["erased_at"] is not None


def test_put_and_delete_are_not_offered(rep, own_person):
    client = client_for(rep)
    assert client.put(f"/api/v1/people/{own_person.pk}/", {"name": "X"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/people/{own_person.pk}/").status_code == 405


def test_the_list_shows_only_visible_people(rep, other_rep, own_person):
    a_person(other_rep, name="Hidden Hal", organization=OrganizationFactory(owner=other_rep))
    pool = person_create(actor=None, name="Pool Pat")  # unowned, at no organisation: everyone's
    names = [r["name"] for r in client_for(rep).get("/api/v1/people/").json()["results"]]
    assert "Hidden Hal" not in names and own_person.name in names and pool.name in names


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"search": "bea"}, ["Bea Buyer"]),
        ({"search": "PRIVATE.example"}, ["Bea Buyer"]),  # any of the addresses
        ({"search": "30 1234"}, ["Ann Example"]),  # the digits of a number, however it was written
        ({"search": "(030) 1234"}, ["Ann Example"]),
        ({"search": "12"}, []),  # too few digits to be a number, and in no name or address
        ({"email": "ANN@example.com"}, ["Ann Example"]),
        ({"email": "ann@"}, []),  # a whole address
        ({"search": "  "}, ["Ann Example", "Bea Buyer", "Cy Nobody"]),
    ],
)
def test_people_filters(rep, query, expected):
    a_person(rep, phones=["030 1234-99"])
    a_person(rep, name="Bea Buyer", emails=["bea@work.example", EmailValue("bea@private.example", "private")])
    a_person(rep, name="Cy Nobody", emails=())
    body = client_for(rep).get("/api/v1/people/", query).json()
    assert [r["name"] for r in body["results"]] == expected


def test_people_filter_by_organisation_and_owner(rep, manager, teammate):
    org = OrganizationFactory(owner=rep, contact_name="", contact_email="")  # no main contact
    a_person(rep, name="At Org", organization=org)
    a_person(teammate, name="Tom's")
    client = client_for(manager)
    assert [r["name"] for r in client.get("/api/v1/people/", {"organization": org.pk}).json()["results"]] == ["At Org"]
    names = [r["name"] for r in client.get("/api/v1/people/", {"owner": teammate.pk}).json()["results"]]
    assert names == ["Tom's"]


@pytest.mark.parametrize("query", [{"organization": "x"}, {"owner": "1.5"}, {"organization": 0}, {"search": "x" * 201}])
def test_bad_people_filters_are_400(rep, query):
    response = client_for(rep).get("/api/v1/people/", query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_people_list_runs_a_fixed_number_of_queries(rep, manager, django_assert_max_num_queries):
    org = OrganizationFactory(owner=rep)
    for n in range(20):
        a_person(rep, name=f"P{n:02}", organization=org, emails=[f"p{n}@example.com", f"p{n}@home.example"],
                 phones=[f"+49 30 {n:04}"])
    for client in (client_for(rep), client_for(manager), token_client(rep)[0]):
        client.get("/api/v1/people/")  # warm the session
        # session/token, count, page, e-mails, phones
        with django_assert_max_num_queries(6):
            response = client.get("/api/v1/people/", {"page_size": 50})
        assert len(response.json()["results"]) == 21  # the 20 and the organisation's main contact


def test_people_are_validated_in_german_too(rep):
    response = client_for(rep).post(
        "/api/v1/people/", {"name": "A", "email": "a@example.com"}, format="json", HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.status_code == 400
    assert "emails" in response.json()["email"][0] and "jede Adresse" in response.json()["email"][0]


def test_a_shared_address_book_shows_everyone_but_changes_stay_with_the_owners(settings, other_rep, own_person):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "SHARED_ADDRESS_BOOK": True}
    client = client_for(other_rep)
    assert client.get(f"/api/v1/people/{own_person.pk}/").status_code == 200
    assert client.patch(f"/api/v1/people/{own_person.pk}/", {"job_title": "CTO"}, format="json").status_code == 403
