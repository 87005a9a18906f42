"""Who is on a deal: read with the deal, changed (added, re-roled, removed) by whoever may change
the deal, through pipeline.people; the contact roles to choose from."""
import pytest
from rest_framework.test import APIClient

from accounts.models import ConfigChange
from pipeline.models import ContactRole, DealContact, Person
from pipeline.people import deal_contact_add, person_create
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles(db):
    """Roles of this test's own (migration 0012's defaults may have been emptied by another test)."""
    return {
        "champion": ContactRole.objects.create(name="Test champion", position=2),
        "buyer": ContactRole.objects.create(name="Test buyer", position=1, name_translations={"de": "Testkäufer"}),
        "retired": ContactRole.objects.create(name="Test retired", position=3, is_active=False),
    }


@pytest.fixture
def person(rep, own_deal):
    return person_create(actor=rep, name="Ann", owner=rep, organization=own_deal.organization, emails=["ann@example.com"],
                         job_title="CFO")


@pytest.fixture
def on_deal(rep, own_deal, person, roles):
    deal_contact_add(deal=own_deal, person=person, role=roles["champion"], actor=rep)
    return person


def _url(deal, person=None):
    return f"/api/v1/deals/{deal.pk}/contacts/" + (f"{person.pk if hasattr(person, 'pk') else person}/" if person else "")


# caller → (status for reads, status for changes) of the rep's own deal's contacts
MATRIX = [
    ("rep", 200, 200),
    ("teammate", 200, 403),
    ("other_rep", 404, 404),
    ("manager", 200, 200),
    ("other_manager", 404, 404),
    ("admin_user", 200, 200),
]


@pytest.mark.parametrize("who, read, change", MATRIX)
def test_listing_and_adding_contacts_follow_the_deals_rights(who, read, change, request, own_deal, person, roles):
    client = client_for(request.getfixturevalue(who))
    assert client.get(_url(own_deal)).status_code == read
    response = client.post(_url(own_deal), {"person": person.pk, "role": roles["buyer"].pk}, format="json")
    # A caller who may not change the deal learns nothing about the person either: 404 or 403 first.
    assert response.status_code == (201 if change == 200 else change), response.content
    assert DealContact.objects.filter(deal=own_deal, person=person).exists() == (change == 200)


@pytest.mark.parametrize("who, read, change", MATRIX)
def test_changing_and_removing_a_contact_follow_the_deals_rights(who, read, change, request, own_deal, on_deal, roles):
    client = client_for(request.getfixturevalue(who))
    assert client.get(_url(own_deal, on_deal)).status_code == read
    response = client.patch(_url(own_deal, on_deal), {"role": roles["buyer"].pk}, format="json")
    assert response.status_code == change, response.content
    assert DealContact.objects.get(deal=own_deal, person=on_deal).role == (roles["buyer"] if change == 200 else roles["champion"])
    response = client.delete(_url(own_deal, on_deal))
    assert response.status_code == (204 if change == 200 else change)
    assert DealContact.objects.filter(deal=own_deal, person=on_deal).exists() == (change != 200)


def test_anonymous_callers_are_401(own_deal, on_deal):
    client = APIClient()
    assert client.get(_url(own_deal)).status_code == 401
    assert client.post(_url(own_deal), {"person": on_deal.pk}, format="json").status_code == 401
    assert client.delete(_url(own_deal, on_deal)).status_code == 401


def test_the_contacts_read_with_their_roles_in_role_order(rep, own_deal, person, roles):
    other = person_create(actor=rep, name="Bob", owner=rep, organization=own_deal.organization)
    nobody = person_create(actor=rep, name="Cid", owner=rep)
    deal_contact_add(deal=own_deal, person=nobody, role=None, actor=rep)
    deal_contact_add(deal=own_deal, person=person, role=roles["champion"], actor=rep)
    deal_contact_add(deal=own_deal, person=other, role=roles["buyer"], actor=rep)
    body = client_for(rep).get(_url(own_deal)).json()
    assert [(c["person_name"], c["role_name"]) for c in body] == [("Bob", "Test buyer"), ("Ann", "Test champion"), ("Cid", None)]
    ann = body[1]
    assert (ann["person"], ann["email"], ann["job_title"], ann["organization"], ann["role"]) == (
        person.pk, "ann@example.com", "CFO", own_deal.organization_id, roles["champion"].pk)
    german = client_for(rep).get(_url(own_deal), HTTP_ACCEPT_LANGUAGE="de").json()
    assert german[0]["role_name"] == "Testkäufer"


def test_add_a_contact_then_give_them_another_role(rep, own_deal, person, roles):
    client = client_for(rep)
    response = client.post(_url(own_deal), {"person": person.pk, "role": roles["champion"].pk}, format="json")
    assert response.status_code == 201 and response.json()["role_name"] == "Test champion"
    response = client.post(_url(own_deal), {"person": person.pk, "role": roles["buyer"].pk}, format="json")
    assert response.status_code == 200 and response.json()["role"] == roles["buyer"].pk  # already on it: re-roled
    response = client.patch(_url(own_deal, person), {"role": None}, format="json")
    assert response.status_code == 200 and response.json()["role"] is None
    assert DealContact.objects.filter(deal=own_deal).count() == 1
    # The service's audit trail names each step.
    assert ConfigChange.objects.filter(object_id=str(own_deal.pk), content_type__model="deal").count() == 3


def test_a_contact_without_a_role(rep, own_deal, person):
    response = client_for(rep).post(_url(own_deal), {"person": person.pk}, format="json")
    assert response.status_code == 201 and response.json()["role"] is None


def test_removing_a_contact_keeps_the_person(rep, own_deal, on_deal):
    assert client_for(rep).delete(_url(own_deal, on_deal)).status_code == 204
    assert Person.objects.filter(pk=on_deal.pk).exists()
    assert client_for(rep).delete(_url(own_deal, on_deal)).status_code == 404  # not on the deal any more


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "person"),
        ({"person": 999999}, "person"),
        ({"person": "ann"}, "person"),
        ({"person": None}, "person"),
        ({"person": "{person}", "role": 999999}, "role"),  # an unknown role
        ({"person": "{person}", "role": "champion"}, "role"),
        ({"person": "{person}", "role": "{retired}"}, "role"),  # a role no longer used: the service says so
        ({"person": "{person}", "deal": 1}, "deal"),  # an unknown field
    ],
)
def test_bad_contacts_are_field_errors(rep, own_deal, person, roles, body, field):
    values = {"{person}": person.pk, "{retired}": roles["retired"].pk}
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = client_for(rep).post(_url(own_deal), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not DealContact.objects.filter(deal=own_deal).exists()


def test_an_inactive_role_is_refused_with_the_services_message(rep, own_deal, person, roles):
    response = client_for(rep).post(_url(own_deal), {"person": person.pk, "role": roles["retired"].pk}, format="json")
    assert response.json()["code"] == "inactive_role" and "Test retired" in response.json()["role"][0]


def test_a_person_the_caller_may_not_see_is_a_field_error(rep, other_rep, own_deal):
    hidden = person_create(actor=other_rep, name="Hal", owner=other_rep, organization=OrganizationFactory(owner=other_rep))
    response = client_for(rep).post(_url(own_deal), {"person": hidden.pk}, format="json")
    assert response.status_code == 400 and "person" in response.json()
    assert response.json()["person"] == [f'Invalid pk "{hidden.pk}" - object does not exist.']  # as for no such person


def test_an_erased_person_cannot_be_added(rep, own_deal, person):
    from django.utils import timezone

    Person.objects.filter(pk=person.pk).update(erased_at=timezone.now())
    response = client_for(rep).post(_url(own_deal), {"person": person.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "erased" and "person" in response.json()


@pytest.mark.parametrize("person_id", ["x", "0", "999999", "-1"])
def test_someone_not_on_the_deal_is_404(rep, own_deal, on_deal, person_id):
    client = client_for(rep)
    for response in (client.get(_url(own_deal, person_id)),
                     client.patch(_url(own_deal, person_id), {"role": None}, format="json"),
                     client.delete(_url(own_deal, person_id))):
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_person_on_another_deal_is_not_on_this_one(rep, own_deal, on_deal, stages):
    other = DealFactory(owner=rep, stage=stages["Prospecting"], organization=own_deal.organization)
    assert client_for(rep).get(_url(other, on_deal)).status_code == 404


def test_a_bad_role_in_a_change_is_a_field_error(rep, own_deal, on_deal):
    for body in ({}, {"role": "x"}, {"role": 999999}, {"role": 1, "person": 2}):
        response = client_for(rep).patch(_url(own_deal, on_deal), body, format="json")
        assert response.status_code == 400 and ("role" in response.json() or "person" in response.json())


def test_the_contact_list_runs_a_fixed_number_of_queries(rep, own_deal, roles, django_assert_max_num_queries):
    for n in range(15):
        deal_contact_add(deal=own_deal, person=person_create(actor=rep, name=f"P{n}", owner=rep), role=roles["buyer"], actor=rep)
    client, _token = token_client(rep)
    client.get(_url(own_deal))
    with django_assert_max_num_queries(4):  # token, its last use, the deal, the contacts with people and roles
        response = client.get(_url(own_deal))
    assert len(response.json()) == 15


def test_contact_roles_are_listed_for_everyone_signed_in(rep, roles):
    client = client_for(rep)
    body = client.get("/api/v1/contact-roles/", {"page_size": 200}).json()
    mine = [r for r in body["results"] if r["name"].startswith("Test ")]
    assert [r["name"] for r in mine] == ["Test buyer", "Test champion", "Test retired"]
    assert mine[2]["is_active"] is False
    detail = client.get(f"/api/v1/contact-roles/{roles['buyer'].pk}/", HTTP_ACCEPT_LANGUAGE="de").json()
    assert (detail["display_name"], detail["name_translations"]) == ("Testkäufer", {"de": "Testkäufer"})
    assert APIClient().get("/api/v1/contact-roles/").status_code == 401


def test_contact_roles_are_read_only(admin_user, roles):
    client = client_for(admin_user)
    assert client.post("/api/v1/contact-roles/", {"name": "New"}, format="json").status_code == 405
    assert client.patch(f"/api/v1/contact-roles/{roles['buyer'].pk}/", {"name": "X"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/contact-roles/{roles['buyer'].pk}/").status_code == 405
