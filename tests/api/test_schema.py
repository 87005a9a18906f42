"""The OpenAPI schema: valid OpenAPI 3, served to API clients, and true — every documented
operation answers a real request with a documented status and a body that fits the schema."""
from datetime import date, timedelta

import pytest
import schemathesis
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipeline import services
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db

CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _schema_dict(user) -> dict:
    response = client_for(user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(rep):
    schema = _schema_dict(rep)
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_documents_every_endpoint_of_the_contract(rep):
    paths = _schema_dict(rep)["paths"]
    for path in [
        "/api/v1/pipelines/", "/api/v1/stages/", "/api/v1/stages/{id}/", "/api/v1/lost-reasons/", "/api/v1/users/",
        "/api/v1/organizations/", "/api/v1/organizations/{id}/", "/api/v1/deals/", "/api/v1/deals/{id}/", "/api/v1/deals/{id}/move/",
        "/api/v1/deals/{id}/lose/", "/api/v1/deals/{id}/reopen/", "/api/v1/deals/{id}/history/", "/api/v1/forecast/",
        "/api/v1/people/", "/api/v1/people/{id}/", "/api/v1/deals/{id}/contacts/",
        "/api/v1/deals/{id}/contacts/{person_id}/", "/api/v1/contact-roles/", "/api/v1/activities/",
        "/api/v1/activities/{id}/", "/api/v1/notes/", "/api/v1/notes/{id}/", "/api/v1/products/", "/api/v1/offers/",
        "/api/v1/offers/{id}/", "/api/v1/offers/{id}/lines/",
    ]:
        assert path in paths, path
    deal_list = {p["name"] for p in paths["/api/v1/deals/"]["get"]["parameters"]}
    assert {"pipeline", "stage", "status", "owner", "search", "expected_close_after", "expected_close_before",
            "page", "page_size"} <= deal_list
    assert set(paths["/api/v1/deals/{id}/move/"]["post"]["responses"]) >= {"200", "400", "401", "403", "404", "409"}
    schemes = _schema_dict(rep)["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["scheme"] == "bearer" and "cookieAuth" in schemes


def test_schema_is_for_signed_in_clients_and_tokens(rep, pipeline):
    assert APIClient().get("/api/schema/").status_code == 401
    client, _ = token_client(rep)
    assert client.get("/api/schema/", {"format": "json"}).json()["info"]["title"] == "Stageflow API"


def test_docs_page_is_served_without_a_cdn(rep, client):
    assert client.get("/api/docs/").status_code == 302  # people sign in first
    client.force_login(rep)
    page = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page


@pytest.fixture
def documented_world(admin_user, rep, stages):
    """One of everything, so that every documented operation can be called for real."""
    deal = DealFactory(owner=rep, stage=stages["Offer"], expected_close=date.today())
    lost = DealFactory(owner=rep, stage=stages["Qualification"])
    services.deal_mark_lost(deal=lost, reason=lost_reason(), actor=rep)
    spare_stage = stages["Prospecting"].pipeline.stages.create(name="Spare", position=9)
    from activities import services as activities
    from pipeline.models import ContactRole, LostReason, Pipeline
    from pipeline.people import person_create

    from offers import services as offers
    from offers.models import Product

    from attachments import services as attachments
    from django.core.files.uploadedfile import SimpleUploadedFile

    soon = timezone.now() + timedelta(days=1)
    product = Product.objects.create(name="Seat licence", list_price=40, currency="EUR")
    return {
        "attachment": attachments.attachment_add(file=SimpleUploadedFile("rfp.txt", b"Requirements"), actor=rep, deal=deal),
        "spare_attachment": attachments.attachment_add(file=SimpleUploadedFile("old.txt", b"Old"), actor=rep, deal=deal),
        "product": product,
        "offer": offers.offer_create(deal=deal, actor=rep, title="Rollout").offer,
        "activity": activities.activity_create(actor=rep, deal=deal, kind="call", title="Call", due_at=soon),
        "note": activities.note_create(actor=rep, organization=deal.organization, body="Met at the fair"),
        "role": ContactRole.objects.create(name="Schema role", position=9),
        "person": person_create(actor=rep, name="Ann Example", owner=rep, organization=deal.organization,
                                emails=["ann@example.com"]),
        "deal": deal,
        "lost": lost,
        "organization": deal.organization,
        "spare_stage": spare_stage,
        "spare_pipeline": Pipeline.objects.create(name="Spare pipeline", position=5),
        "spare_reason": LostReason.objects.create(name="Spare reason", position=99),
        "stages": stages,
        "admin": admin_user,
        "rep": rep,
    }


def _documented_calls(w):
    """(method, path template, path parameters, query, body) of one ordinary request per operation."""
    deal, stages = w["deal"], w["stages"]
    return [
        ("GET", "/api/v1/pipelines/", {}, {}, None),
        ("POST", "/api/v1/pipelines/", {}, {}, {"name": "Upsell"}),
        ("GET", "/api/v1/pipelines/{id}/", {"id": w["spare_pipeline"].pk}, {}, None),
        ("PUT", "/api/v1/pipelines/{id}/", {"id": w["spare_pipeline"].pk}, {}, {"name": "Spare 2"}),
        ("PATCH", "/api/v1/pipelines/{id}/", {"id": w["spare_pipeline"].pk}, {}, {"position": 6}),
        ("DELETE", "/api/v1/pipelines/{id}/", {"id": w["spare_pipeline"].pk}, {}, None),
        ("GET", "/api/v1/stages/", {}, {"pipeline": stages["Offer"].pipeline_id}, None),
        ("POST", "/api/v1/stages/", {}, {}, {"pipeline": stages["Offer"].pipeline_id, "name": "Legal"}),
        ("GET", "/api/v1/stages/{id}/", {"id": stages["Offer"].pk}, {}, None),
        ("PUT", "/api/v1/stages/{id}/", {"id": w["spare_stage"].pk}, {},
         {"pipeline": stages["Offer"].pipeline_id, "name": "Spare 2"}),
        ("PATCH", "/api/v1/stages/{id}/", {"id": w["spare_stage"].pk}, {}, {"probability": 5}),
        ("DELETE", "/api/v1/stages/{id}/", {"id": stages["Offer"].pk}, {}, None),  # holds a deal: 400
        ("DELETE", "/api/v1/stages/{id}/", {"id": w["spare_stage"].pk}, {}, None),
        ("GET", "/api/v1/lost-reasons/", {}, {}, None),
        ("POST", "/api/v1/lost-reasons/", {}, {}, {"name": "Merger"}),
        ("GET", "/api/v1/lost-reasons/{id}/", {"id": w["spare_reason"].pk}, {}, None),
        ("PUT", "/api/v1/lost-reasons/{id}/", {"id": w["spare_reason"].pk}, {}, {"name": "Spare 2"}),
        ("PATCH", "/api/v1/lost-reasons/{id}/", {"id": w["spare_reason"].pk}, {}, {"is_active": False}),
        ("DELETE", "/api/v1/lost-reasons/{id}/", {"id": w["spare_reason"].pk}, {}, None),
        ("GET", "/api/v1/users/", {}, {}, None),
        ("GET", "/api/v1/users/{id}/", {"id": w["rep"].pk}, {}, None),
        ("GET", "/api/v1/organizations/", {}, {"search": w["organization"].name[:3]}, None),
        ("POST", "/api/v1/organizations/", {}, {}, {"name": "Initech", "country": "US"}),
        ("GET", "/api/v1/organizations/{id}/", {"id": w["organization"].pk}, {}, None),
        ("PATCH", "/api/v1/organizations/{id}/", {"id": w["organization"].pk}, {}, {"industry": "Banking"}),
        ("GET", "/api/v1/people/", {}, {"search": "Ann", "organization": w["organization"].pk}, None),
        ("POST", "/api/v1/people/", {}, {}, {"name": "Pat", "emails": [{"address": "pat@example.com", "kind": "work"}],
                                             "phones": [{"number": "+49 30 1234", "kind": "mobile"}]}),
        ("POST", "/api/v1/people/", {}, {}, {"name": "Pat", "emails": [{"address": "not an address"}]}),  # 400
        ("GET", "/api/v1/people/{id}/", {"id": w["person"].pk}, {}, None),
        ("PATCH", "/api/v1/people/{id}/", {"id": w["person"].pk}, {}, {"job_title": "CTO", "consent": "granted"}),
        ("GET", "/api/v1/deals/", {}, {"status": "open", "search": "Deal"}, None),
        ("POST", "/api/v1/deals/", {}, {}, {"title": "New", "organization": w["organization"].pk}),
        ("GET", "/api/v1/deals/{id}/", {"id": deal.pk}, {}, None),
        ("PATCH", "/api/v1/deals/{id}/", {"id": deal.pk}, {}, {"next_step": "Call", "version": 1}),
        ("PATCH", "/api/v1/deals/{id}/", {"id": deal.pk}, {}, {"next_step": "Stale", "version": 1}),  # 409
        ("POST", "/api/v1/deals/{id}/move/", {"id": deal.pk}, {}, {"stage": stages["Negotiation"].pk, "version": 2}),
        ("POST", "/api/v1/deals/{id}/move/", {"id": deal.pk}, {}, {"stage": stages["Retention"].pk, "version": 3}),
        ("POST", "/api/v1/deals/{id}/lose/", {"id": deal.pk}, {}, {"reason": lost_reason().pk}),  # won: 400
        ("POST", "/api/v1/deals/{id}/reopen/", {"id": w["lost"].pk}, {}, {}),
        ("GET", "/api/v1/deals/{id}/history/", {"id": deal.pk}, {}, None),
        ("GET", "/api/v1/activities/", {}, {"done": "false", "deal": deal.pk}, None),
        ("POST", "/api/v1/activities/", {}, {}, {"title": "Demo", "kind": "meeting", "due_at": "2031-05-04T09:30:00Z",
                                                 "person": w["person"].pk}),
        ("POST", "/api/v1/activities/", {}, {}, {"title": "Demo", "due_at": "2031-05-04T09:30:00Z"}),  # 400: no subject
        ("GET", "/api/v1/activities/{id}/", {"id": w["activity"].pk}, {}, None),
        ("PATCH", "/api/v1/activities/{id}/", {"id": w["activity"].pk}, {}, {"title": "Call back", "done": True}),
        ("GET", "/api/v1/notes/", {}, {"organization": w["organization"].pk}, None),
        ("POST", "/api/v1/notes/", {}, {}, {"body": "Wants a pilot", "deal": deal.pk}),
        ("GET", "/api/v1/notes/{id}/", {"id": w["note"].pk}, {}, None),
        ("GET", "/api/v1/products/", {}, {"active": "true", "search": "seat"}, None),
        ("GET", "/api/v1/products/{id}/", {"id": w["product"].pk}, {}, None),
        ("GET", "/api/v1/offers/", {}, {"deal": deal.pk}, None),
        ("POST", "/api/v1/offers/", {}, {}, {"deal": deal.pk, "title": "Pilot", "language": "en"}),
        ("GET", "/api/v1/offers/{id}/", {"id": w["offer"].pk}, {}, None),
        ("PATCH", "/api/v1/offers/{id}/", {"id": w["offer"].pk}, {}, {"terms": "30 days net", "valid_until": None}),
        ("POST", "/api/v1/offers/{id}/lines/", {"id": w["offer"].pk}, {}, {"product": w["product"].pk, "quantity": "3"}),
        ("POST", "/api/v1/offers/{id}/lines/", {"id": w["offer"].pk}, {}, {"description": "Setup"}),  # 400: no price
        ("GET", "/api/v1/contact-roles/", {}, {}, None),
        ("GET", "/api/v1/contact-roles/{id}/", {"id": w["role"].pk}, {}, None),
        ("POST", "/api/v1/deals/{id}/contacts/", {"id": deal.pk}, {}, {"person": w["person"].pk, "role": w["role"].pk}),
        ("POST", "/api/v1/deals/{id}/contacts/", {"id": deal.pk}, {}, {"person": w["person"].pk, "role": None}),  # 200
        ("POST", "/api/v1/deals/{id}/contacts/", {"id": deal.pk}, {}, {"person": 999999}),  # 400
        ("GET", "/api/v1/deals/{id}/contacts/", {"id": deal.pk}, {}, None),
        ("GET", "/api/v1/deals/{id}/contacts/{person_id}/", {"id": deal.pk, "person_id": w["person"].pk}, {}, None),
        ("PATCH", "/api/v1/deals/{id}/contacts/{person_id}/", {"id": deal.pk, "person_id": w["person"].pk}, {},
         {"role": w["role"].pk}),
        ("DELETE", "/api/v1/deals/{id}/contacts/{person_id}/", {"id": deal.pk, "person_id": w["person"].pk}, {}, None),
        ("GET", "/api/v1/deals/{id}/contacts/{person_id}/", {"id": deal.pk, "person_id": w["person"].pk}, {}, None),  # 404
        ("GET", "/api/v1/deals/{id}/", {"id": 999999}, {}, None),  # 404
        ("GET", "/api/v1/files/", {}, {"deal": deal.pk}, None),
        ("POST", "/api/v1/files/", {}, {}, ("multipart/form-data", {"deal": deal.pk, "file": b"Signed contract", "name": "NDA.txt"})),
        ("GET", "/api/v1/files/{id}/", {"id": w["attachment"].pk}, {}, None),
        ("PATCH", "/api/v1/files/{id}/", {"id": w["attachment"].pk}, {}, {"name": "RFP 2027.txt"}),
        ("GET", "/api/v1/files/{id}/download/", {"id": w["attachment"].pk}, {}, None),
        ("DELETE", "/api/v1/files/{id}/", {"id": w["spare_attachment"].pk}, {}, None),
        ("GET", "/api/v1/forecast/", {}, {"method": "weighted", "period": "quarter"}, None),
        ("GET", "/api/v1/forecast/", {}, {"period": "fortnight"}, None),  # 400
    ]


def test_every_documented_operation_answers_as_documented(documented_world, wsgi_app):
    w = documented_world
    schema = schemathesis.openapi.from_dict(_schema_dict(w["admin"]))
    client, _ = token_client(w["admin"])
    auth = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    calls = _documented_calls(w)
    documented = {
        (method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == {(m, p) for m, p, *_ in calls}, "every documented operation is called, nothing else"
    statuses = []
    for method, path, path_parameters, query, body in calls:
        operation = schema[path][method]
        kwargs = {"path_parameters": path_parameters, "query": query}
        if body is not None:
            media_type, body = body if isinstance(body, tuple) else ("application/json", body)
            kwargs.update(body=body, media_type=media_type)
        case = operation.Case(**kwargs)
        response = case.call(app=wsgi_app, headers=auth)
        case.validate_response(response, checks=CONFORMANCE, headers=auth)
        statuses.append((method, path, response.status_code))
    # The calls above include the answers clients must handle, not only the happy ones.
    codes = {code for *_, code in statuses}
    assert {200, 201, 204, 400, 404, 409} <= codes, statuses

    # Refusals are documented too: anonymous callers (401) and reps writing configuration (403).
    rep_client, _ = token_client(w["rep"])
    rep_auth = {"Authorization": rep_client._credentials["HTTP_AUTHORIZATION"]}
    refusals = set()
    for method, path, path_parameters, query, body in calls:
        kwargs = {"path_parameters": path_parameters, "query": query}
        if body is not None:
            media_type, body = body if isinstance(body, tuple) else ("application/json", body)
            kwargs.update(body=body, media_type=media_type)
        admin_only = method != "GET" and path.split("/")[3] in {"pipelines", "stages", "lost-reasons"}
        for headers, expected in (({}, 401), (rep_auth, 403) if admin_only else (None, None)):
            if headers is None:
                continue
            case = schema[path][method].Case(**kwargs)
            response = case.call(app=wsgi_app, headers=headers)
            assert response.status_code == expected, (method, path, response.status_code)
            case.validate_response(response, checks=CONFORMANCE, headers=headers)
            refusals.add(expected)
    assert refusals == {401, 403}


@pytest.mark.parametrize(
    "url", ["/api/v1/deals/", "/api/v1/deals/{deal}/", "/api/v1/deals/{deal}/history/", "/api/v1/organizations/{organization}/",
            "/api/v1/pipelines/", "/api/v1/forecast/", "/api/v1/people/", "/api/v1/people/{person}/",
            "/api/v1/deals/{deal}/contacts/", "/api/v1/deals/{deal}/contacts/{person}/", "/api/v1/contact-roles/",
            "/api/v1/activities/", "/api/v1/activities/{activity}/", "/api/v1/notes/", "/api/v1/notes/{note}/",
            "/api/v1/products/", "/api/v1/offers/", "/api/v1/offers/{offer}/"],
)
def test_the_browsable_api_renders_for_people_signed_in(url, admin_user, rep, own_deal):
    from activities import services as activities
    from offers import services as offers
    from pipeline.people import deal_contact_add, person_create

    person = person_create(actor=rep, name="Ann", owner=rep, organization=own_deal.organization, emails=["a@example.com"])
    deal_contact_add(deal=own_deal, person=person, actor=rep)
    activity = activities.activity_create(actor=rep, person=person, kind="call", title="Call", due_at=timezone.now())
    note = activities.note_create(actor=rep, person=person, body="Hello")
    offer = offers.offer_create(deal=own_deal, actor=rep).offer
    url = url.format(deal=own_deal.pk, organization=own_deal.organization_id, person=person.pk, activity=activity.pk,
                     note=note.pk, offer=offer.pk)
    for user in (admin_user, rep):
        response = client_for(user).get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
