"""Products (the price book, read by everyone signed in) and offers (read with their deal; drafted
by whoever may change the deal, through offers.services)."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from offers import services
from offers.models import Offer, OfferLine, PriceList, PriceListItem, Product, VersionStatus
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def licence(db):
    return Product.objects.create(name="Seat licence", sku="LIC-1", unit="licence", list_price=Decimal("40.00"),
                                  currency="EUR", tax_rate=Decimal("19.00"))


@pytest.fixture
def draft(rep, own_deal, licence):
    version = services.offer_create(deal=own_deal, actor=rep, title="Rollout")
    services.line_add(version=version, actor=rep, product=licence, quantity="10", discount_percent="10")
    services.line_add(version=version, actor=rep, description="Training day", unit="day", unit_price="1200",
                      tax_rate="7")
    return version


MATRIX = [
    ("rep", 200, 200),
    ("teammate", 200, 403),
    ("other_rep", 404, 404),
    ("manager", 200, 200),
    ("other_manager", 404, 404),
    ("admin_user", 200, 200),
]


@pytest.mark.parametrize("who, read, change", MATRIX)
def test_offers_follow_their_deals_rights(who, read, change, request, own_deal, draft):
    client = client_for(request.getfixturevalue(who))
    url = f"/api/v1/offers/{draft.offer_id}/"
    assert client.get(url).status_code == read
    assert (draft.offer_id in [o["id"] for o in client.get("/api/v1/offers/").json()["results"]]) == (read == 200)
    assert client.patch(url, {"terms": "30 days net"}, format="json").status_code == change
    response = client.post(f"{url}lines/", {"description": "Setup", "unit_price": "500"}, format="json")
    assert response.status_code == (201 if change == 200 else change)
    response = client.post("/api/v1/offers/", {"deal": own_deal.pk}, format="json")
    assert response.status_code == {200: 201, 403: 403, 404: 400}[change]  # a deal one cannot see: "does not exist"
    assert Offer.objects.filter(deal=own_deal).count() == (2 if change == 200 else 1)


def test_anonymous_callers_are_401(draft):
    for url in ("/api/v1/offers/", f"/api/v1/offers/{draft.offer_id}/", "/api/v1/products/"):
        assert APIClient().get(url).status_code == 401
    assert APIClient().post("/api/v1/offers/", {}, format="json").status_code == 401


def test_an_offer_reads_with_its_versions_lines_and_totals(rep, draft, licence):
    body = client_for(rep).get(f"/api/v1/offers/{draft.offer_id}/").json()
    assert (body["number"], body["title"], body["deal"]) == (draft.offer.number, "Rollout", draft.offer.deal_id)
    (version,) = body["versions"]
    assert (version["number"], version["status"], version["currency"], version["packages"]) == (1, "draft", "EUR", [])
    first, second = version["lines"]
    assert (first["product"], first["description"], first["quantity"], first["unit_price"], first["net"]) == (
        licence.pk, "Seat licence", "10.000", "40.00", "360.00")
    assert (second["description"], second["unit"], second["net"], second["tax_rate"]) == ("Training day", "day", "1200.00", "7.00")
    # 360 at 19 % and 1200 at 7 %: tax once per rate, as on the offer's page and PDF.
    assert version["totals"] == {
        "list_amount": "1600.00", "net": "1560.00", "tax": "152.40", "gross": "1712.40",
        "tax_groups": [{"rate": "7.00", "net": "1200.00", "tax": "84.00"}, {"rate": "19.00", "net": "360.00", "tax": "68.40"}],
    }


def test_with_packages_each_package_has_its_totals(rep, draft):
    basic = services.package_add(version=draft, actor=rep, name="Basic")
    premium = services.package_add(version=draft, actor=rep, name="Premium", is_recommended=True)
    services.line_add(version=draft, actor=rep, description="Premium support", unit_price="100", tax_rate="19", package=premium)
    version = client_for(rep).get(f"/api/v1/offers/{draft.offer_id}/").json()["versions"][0]
    assert version["totals"] is None
    totals = {p["name"]: p["totals"]["net"] for p in version["packages"]}
    assert totals == {"Basic": "1560.00", "Premium": "1660.00"} and basic.pk in [p["id"] for p in version["packages"]]


def test_create_a_draft_offer(rep, own_deal):
    price_list = PriceList.objects.create(name="Partners", currency="EUR")
    response = client_for(rep).post("/api/v1/offers/", {"deal": own_deal.pk, "title": "Pilot", "price_list": price_list.pk,
                                                        "language": "de"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["title"], body["price_list"], body["created_by"]) == ("Pilot", price_list.pk, rep.pk)
    assert [(v["number"], v["status"], v["language"]) for v in body["versions"]] == [(1, "draft", "de")]
    offer = Offer.objects.get(pk=body["id"])
    assert offer.versions.get().events.filter(kind="created", actor=rep).exists()  # the service's history


def test_the_title_defaults_to_the_deals(rep, own_deal):
    response = client_for(rep).post("/api/v1/offers/", {"deal": own_deal.pk}, format="json")
    assert response.json()["title"] == own_deal.title


def test_a_lost_deal_gets_no_offer(rep, own_deal):
    from pipeline import services as pipeline_services

    pipeline_services.deal_mark_lost(deal=own_deal, reason=lost_reason(), actor=rep)
    response = client_for(rep).post("/api/v1/offers/", {"deal": own_deal.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "lost"


@pytest.mark.parametrize(
    "body, field",
    [({}, "deal"), ({"deal": 999999}, "deal"), ({"deal": "{deal}", "price_list": 999999}, "price_list"),
     ({"deal": "{deal}", "language": "fr"}, "language"), ({"deal": "{deal}", "title": "x" * 201}, "title"),
     ({"deal": "{deal}", "status": "sent"}, "status")],
)
def test_bad_offers_are_field_errors(rep, own_deal, body, field):
    body = {k: own_deal.pk if v == "{deal}" else v for k, v in body.items()}
    response = client_for(rep).post("/api/v1/offers/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Offer.objects.exists()


def test_add_a_line_from_a_product_with_the_price_lists_price(rep, own_deal, licence):
    price_list = PriceList.objects.create(name="Partners", currency="EUR")
    PriceListItem.objects.create(price_list=price_list, product=licence, price=Decimal("30.00"))
    version = services.offer_create(deal=own_deal, actor=rep, price_list=price_list)
    response = client_for(rep).post(f"/api/v1/offers/{version.offer_id}/lines/", {"product": licence.pk, "quantity": "5"},
                                    format="json")
    assert response.status_code == 201, response.content
    (line,) = response.json()["versions"][0]["lines"]
    assert (line["description"], line["unit"], line["unit_price"], line["net"]) == ("Seat licence", "licence", "30.00", "150.00")


@pytest.mark.parametrize(
    "body, field",
    [({"quantity": "-1", "description": "X", "unit_price": "1"}, "quantity"),
     ({"description": "X", "unit_price": "abc"}, "unit_price"),
     ({"description": "X", "unit_price": "1", "discount_percent": "101"}, "discount_percent"),
     ({"description": "X", "unit_price": "1", "unit": "bushel"}, "unit"),
     ({"product": 999999}, "product"),
     ({"description": "X", "unit_price": "1", "package": 999999}, "package"),
     ({"description": "X", "unit_price": "1", "version": 2}, "version")],
)
def test_bad_lines_are_field_errors(rep, draft, body, field):
    response = client_for(rep).post(f"/api/v1/offers/{draft.offer_id}/lines/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert OfferLine.objects.filter(version=draft).count() == 2


@pytest.mark.parametrize("body, code", [({}, "invalid"), ({"description": "X"}, "invalid")])
def test_a_line_needs_a_product_or_a_description_and_a_price(rep, draft, body, code):
    response = client_for(rep).post(f"/api/v1/offers/{draft.offer_id}/lines/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == code


def test_a_retired_product_is_refused_by_the_service(rep, draft, licence):
    Product.objects.filter(pk=licence.pk).update(is_active=False)
    response = client_for(rep).post(f"/api/v1/offers/{draft.offer_id}/lines/", {"product": licence.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "inactive"


def test_a_package_of_another_offer_is_refused(rep, own_deal, draft):
    other = services.offer_create(deal=own_deal, actor=rep)
    package = services.package_add(version=other, actor=rep, name="Elsewhere")
    response = client_for(rep).post(f"/api/v1/offers/{draft.offer_id}/lines/",
                                    {"description": "X", "unit_price": "1", "package": package.pk}, format="json")
    assert response.status_code == 400


def test_a_sent_version_is_no_longer_changed(rep, draft):
    services.offer_send(version=draft, actor=rep)
    client = client_for(rep)
    response = client.post(f"/api/v1/offers/{draft.offer_id}/lines/", {"description": "X", "unit_price": "1"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_editable"
    response = client.patch(f"/api/v1/offers/{draft.offer_id}/", {"terms": "Changed"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_editable"
    assert client.get(f"/api/v1/offers/{draft.offer_id}/").json()["versions"][0]["status"] == VersionStatus.SENT


def test_a_new_version_is_the_one_changed(rep, draft):
    services.offer_send(version=draft, actor=rep)
    services.offer_revise(version=draft, actor=rep)
    response = client_for(rep).patch(f"/api/v1/offers/{draft.offer_id}/", {"terms": "Revised"}, format="json")
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [(v["number"], v["status"], v["terms"]) for v in versions] == [
        (2, "draft", "Revised"), (1, "sent", "")]  # superseded when version 2 is sent


def test_change_the_draft_texts(rep, draft):
    until = (date.today() + timedelta(days=10)).isoformat()
    response = client_for(rep).patch(f"/api/v1/offers/{draft.offer_id}/", {
        "situation": "Manual quoting", "benefit": "Quotes in minutes", "terms": "30 days net", "valid_until": until,
        "language": "de"}, format="json")
    assert response.status_code == 200, response.content
    version = response.json()["versions"][0]
    assert (version["situation"], version["benefit"], version["valid_until"], version["language"]) == (
        "Manual quoting", "Quotes in minutes", until, "de")


@pytest.mark.parametrize("body, field", [({"terms": "x" * 10_001}, "terms"), ({"valid_until": "soon"}, "valid_until"),
                                         ({"language": "fr"}, "language"), ({"title": "New"}, "title")])
def test_bad_text_changes_are_field_errors(rep, draft, body, field):
    response = client_for(rep).patch(f"/api/v1/offers/{draft.offer_id}/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content


def test_offers_filter_by_deal_and_organisation(rep, own_deal, draft, stages):
    other = DealFactory(owner=rep, stage=stages["Prospecting"])
    services.offer_create(deal=other, actor=rep)
    client = client_for(rep)
    assert [o["id"] for o in client.get("/api/v1/offers/", {"deal": own_deal.pk}).json()["results"]] == [draft.offer_id]
    found = client.get("/api/v1/offers/", {"organization": other.organization_id}).json()["results"]
    assert [o["deal"] for o in found] == [other.pk]
    assert client.get("/api/v1/offers/", {"deal": "x"}).status_code == 400


def test_offers_list_runs_a_fixed_number_of_queries(rep, manager, own_deal, licence, django_assert_max_num_queries):
    for n in range(6):
        version = services.offer_create(deal=own_deal, actor=rep, title=f"Offer {n}")
        package = services.package_add(version=version, actor=rep, name="Basic")
        services.line_add(version=version, actor=rep, product=licence, quantity="2")
        services.line_add(version=version, actor=rep, description="Extra", unit_price="5", package=package)
    for client in (client_for(rep), client_for(manager), token_client(rep)[0]):
        client.get("/api/v1/offers/")
        with django_assert_max_num_queries(7):  # session/token, count, offers, versions, packages, lines
            response = client.get("/api/v1/offers/", {"page_size": 50})
        assert response.json()["count"] == 6


def test_products_are_the_price_book(rep, licence, django_assert_max_num_queries):
    Product.objects.create(name="Old module", sku="OLD-9", list_price=Decimal("5"), currency="USD", is_active=False)
    client = client_for(rep)
    assert [p["name"] for p in client.get("/api/v1/products/").json()["results"]] == ["Old module", "Seat licence"]
    assert [p["name"] for p in client.get("/api/v1/products/", {"active": "true"}).json()["results"]] == ["Seat licence"]
    assert [p["sku"] for p in client.get("/api/v1/products/", {"search": "old"}).json()["results"]] == ["OLD-9"]
    assert client.get("/api/v1/products/", {"currency": "usd"}).json()["count"] == 1
    assert client.get("/api/v1/products/", {"active": "sometimes"}).status_code == 400
    body = client.get(f"/api/v1/products/{licence.pk}/").json()
    assert (body["list_price"], body["unit"], body["tax_rate"], body["is_active"]) == ("40.00", "licence", "19.00", True)
    with django_assert_max_num_queries(4):
        client.get("/api/v1/products/")


def test_products_are_read_only(admin_user, licence):
    client = client_for(admin_user)
    assert client.post("/api/v1/products/", {"name": "X"}, format="json").status_code == 405
    assert client.patch(f"/api/v1/products/{licence.pk}/", {"name": "X"}, format="json").status_code == 405
