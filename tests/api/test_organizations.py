"""Leads: visible ones listed and read, changeable ones updated, owners limited to assignable people."""
import pytest
from rest_framework.test import APIClient

from pipeline.models import Organization
from tests.api.conftest import client_for
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_organization(rep):
    return OrganizationFactory(owner=rep, name="Rita's Lead")


@pytest.mark.parametrize(
    "who, read, change",
    [
        ("rep", 200, 200),
        ("teammate", 200, 403),  # reps see their teammates' leads read-only (STAGEFLOW_REPS_SEE_TEAM_DEALS)
        ("manager", 200, 200),
        ("other_manager", 404, 404),
        ("admin_user", 200, 200),
    ],
)
def test_organization_access(who, read, change, request, own_organization):
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/organizations/{own_organization.pk}/").status_code == read
    response = client.patch(f"/api/v1/organizations/{own_organization.pk}/", {"industry": "Retail"}, format="json")
    assert response.status_code == change


def test_an_organization_seen_through_a_teammates_deal_is_read_only(rep, team_deal):
    client = client_for(rep)
    assert client.get(f"/api/v1/organizations/{team_deal.organization_id}/").status_code == 200
    response = client.patch(f"/api/v1/organizations/{team_deal.organization_id}/", {"industry": "Retail"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_anonymous_cannot_read_organizations(own_organization):
    assert APIClient().get(f"/api/v1/organizations/{own_organization.pk}/").status_code == 401


def test_create_an_organization_owned_by_the_caller(rep):
    response = client_for(rep).post(
        "/api/v1/organizations/", {"name": "Acme", "country": "de", "contact_email": "a@acme.test"}, format="json"
    )
    assert response.status_code == 201, response.content
    organization = Organization.objects.get(pk=response.json()["id"])
    assert (organization.owner, organization.country) == (rep, "DE")


def test_create_an_organization_for_someone_else_needs_a_manager(rep, teammate, manager):
    assert client_for(rep).post("/api/v1/organizations/", {"name": "A", "owner": teammate.pk}, format="json").status_code == 400
    assert client_for(manager).post("/api/v1/organizations/", {"name": "A", "owner": teammate.pk}, format="json").status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [({"name": ""}, "name"), ({"name": "A", "contact_email": "nope"}, "contact_email"),
     ({"name": "A", "source": "psychic"}, "source"), ({"name": "A", "country": "DEU"}, "country"),
     ({"name": "A", "website": "not a url"}, "website"), ({"name": "A", "country": "\ufb03"}, "country"),
     ({"name": "A", "country": "1!"}, "country")],
)
def test_bad_organizations_are_field_errors(rep, body, field):
    response = client_for(rep).post("/api/v1/organizations/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_organization_search(rep):
    OrganizationFactory(owner=rep, name="Northwind", contact_name="Ann")
    OrganizationFactory(owner=rep, name="Contoso", contact_name="Bob North")
    OrganizationFactory(owner=rep, name="Fabrikam", contact_name="Cid")
    body = client_for(rep).get("/api/v1/organizations/", {"search": "north"}).json()
    assert sorted(r["name"] for r in body["results"]) == ["Contoso", "Northwind"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"search": "acme.example"}, ["Acme"]),  # a domain is text of the organisation too
        ({"industry": "retail"}, ["Acme", "Bolt"]),
        ({"domain": "https://www.ACME.example/about"}, ["Acme"]),  # normalised as the service stores it
        ({"domain": "acme.ex"}, []),  # a whole domain, not a part of one
        ({"domain": "bolt.example"}, ["Bolt"]),  # the second of its domains
        ({"domain": "  "}, ["Acme", "Bolt", "Cogs"]),
        ({"customer": "true"}, ["Bolt"]),
        ({"customer": "false"}, ["Acme", "Cogs"]),
        ({"country": "fr", "industry": "Retail"}, ["Bolt"]),
    ],
)
def test_organization_filters(rep, query, expected):
    import datetime

    from pipeline.organizations import organization_update

    OrganizationFactory(owner=rep, name="Acme", industry="Retail", domains="acme.example acme.de")
    bolt = OrganizationFactory(owner=rep, name="Bolt", industry="Retail", country="FR", domains="bolt.de bolt.example")
    organization_update(organization=bolt, actor=rep, customer_since=datetime.date(2025, 5, 1))
    OrganizationFactory(owner=rep, name="Cogs", industry="Steel", domains="")
    body = client_for(rep).get("/api/v1/organizations/", query).json()
    assert [r["name"] for r in body["results"]] == expected


@pytest.mark.parametrize("query", [{"customer": "maybe"}, {"owner": "x"}, {"country": "DEU"}, {"source": "psychic"}])
def test_bad_organization_filters_are_400(rep, query):
    response = client_for(rep).get("/api/v1/organizations/", query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_the_main_contact_is_chosen_from_the_organisations_people(rep, own_organization):
    from pipeline.people import person_create

    colleague = person_create(actor=rep, name="Cleo", owner=rep, organization=own_organization)
    elsewhere = person_create(actor=rep, name="Eli", owner=rep, organization=OrganizationFactory(owner=rep))
    client = client_for(rep)
    url = f"/api/v1/organizations/{own_organization.pk}/"
    response = client.patch(url, {"main_contact": elsewhere.pk}, format="json")
    assert response.status_code == 400 and "main_contact" in response.json()
    response = client.patch(url, {"main_contact": colleague.pk}, format="json")
    assert response.status_code == 200 and response.json()["main_contact"] == colleague.pk
    assert response.json()["contact_name"] == "Cleo"
    body = client.post("/api/v1/organizations/", {"name": "New", "main_contact": colleague.pk}, format="json")
    assert body.status_code == 400 and "main_contact" in body.json()  # nobody works at an organisation not yet made


def test_a_main_contact_the_caller_may_not_see_is_a_field_error(rep, other_rep, own_organization):
    from pipeline.people import person_create

    hidden = person_create(actor=other_rep, name="Hal", owner=other_rep, organization=OrganizationFactory(owner=other_rep))
    response = client_for(rep).patch(f"/api/v1/organizations/{own_organization.pk}/", {"main_contact": hidden.pk},
                                     format="json")
    assert response.status_code == 400 and "main_contact" in response.json()
