"""Webhooks for the address book: person and organisation created, changed and merged, published
by pipeline.people and pipeline.organizations in the change's transaction (the outbox) and
delivered after it, signed, to a local receiver on 127.0.0.1."""
import pytest
from django.db import transaction

from api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from config.celery import app as celery_app
from outbox.models import OutboxMessage
from pipeline import organizations, people
from pipeline.signals import directory_changed
from tests.api.conftest import client_for
from tests.api.test_webhooks import Receiver, _verify
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

DIRECTORY_EVENTS = {
    "on_person_created": True, "on_person_changed": True, "on_person_merged": True,
    "on_organization_created": True, "on_organization_changed": True, "on_organization_merged": True,
}


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def eager_tasks():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def endpoint(receiver):
    """Subscribed to the address book's events only."""
    return WebhookEndpoint.objects.create(
        name="Directory sync", url=receiver.url, secret="s3cret", on_created=False, on_moved=False, on_won=False,
        on_lost=False, **DIRECTORY_EVENTS,
    )


def _events(receiver) -> list[str]:
    return [r["headers"]["X-Stageflow-Event"] for r in receiver.requests]


def test_a_person_created_through_the_api_is_delivered_as_the_api_shows_it(
    endpoint, receiver, rep, django_capture_on_commit_callbacks
):
    client = client_for(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/people/", {
            "name": "Ann", "emails": [{"address": "ann@example.com"}], "phones": [{"number": "+49 30 1234", "kind": "mobile"}],
        }, format="json")
    assert response.status_code == 201
    assert _events(receiver) == ["person.created"]
    payload = _verify(receiver.requests[0])
    assert payload["event"] == "person.created" and payload["occurred_at"]
    assert payload["person"] == client.get(f"/api/v1/people/{response.json()['id']}/").json()
    assert payload["person"]["phones"] == [{"number": "+49 30 1234", "kind": "mobile"}]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.person_id, delivery.deal_id, delivery.status) == (
        "person.created", response.json()["id"], None, DeliveryStatus.DELIVERED)
    assert payload["delivery"] == str(delivery.uuid)


def test_a_person_changed_is_delivered_and_a_change_of_nothing_is_not(
    endpoint, receiver, rep, django_capture_on_commit_callbacks
):
    person = people.person_create(actor=rep, name="Ann", owner=rep, emails=["ann@example.com"])
    client = client_for(rep)
    with django_capture_on_commit_callbacks(execute=True):
        client.patch(f"/api/v1/people/{person.pk}/", {"job_title": "CEO"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        client.patch(f"/api/v1/people/{person.pk}/", {"job_title": "CEO", "emails": [{"address": "ann@example.com"}]},
                     format="json")
    assert _events(receiver) == ["person.changed"]
    assert _verify(receiver.requests[0])["person"]["job_title"] == "CEO"


def test_organisations_created_and_changed_are_delivered(endpoint, receiver, rep, django_capture_on_commit_callbacks):
    client = client_for(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/organizations/", {"name": "Acme", "domains": "acme.example"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        client.patch(f"/api/v1/organizations/{response.json()['id']}/", {"industry": "Retail"}, format="json")
    assert _events(receiver) == ["organization.created", "organization.changed"]
    created, changed = (_verify(r) for r in receiver.requests)
    assert created["organization"]["name"] == "Acme" and created["organization"]["domains"] == "acme.example"
    assert changed["organization"] == client.get(f"/api/v1/organizations/{response.json()['id']}/").json()
    assert set(WebhookDelivery.objects.values_list("organization_id", flat=True)) == {response.json()["id"]}


def test_an_organisation_with_a_new_main_contact_sends_both_events(endpoint, receiver, rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(rep).post("/api/v1/organizations/", {"name": "Acme", "contact_name": "Bob"}, format="json")
    assert sorted(_events(receiver)) == ["organization.created", "person.created"]


def test_a_merge_names_the_survivor_and_the_merged_records(endpoint, receiver, rep, django_capture_on_commit_callbacks):
    """The merge (another part of Stageflow) publishes on the same topic; delivery is ready for it."""
    survivor = people.person_create(actor=rep, name="Ann", owner=rep)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        directory_changed.publish(model="person", kind="merged", ids=[survivor.pk], merged_ids=[991, 990])
    organization = OrganizationFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        directory_changed.publish(model="organization", kind="merged", ids=[organization.pk], merged_ids=[77])
    assert _events(receiver) == ["person.merged", "organization.merged"]
    person_merge, organization_merge = (_verify(r) for r in receiver.requests)
    assert person_merge["person"]["id"] == survivor.pk and person_merge["merged_ids"] == [990, 991]
    assert organization_merge["organization"]["id"] == organization.pk and organization_merge["merged_ids"] == [77]


def test_only_subscribed_events_of_active_endpoints_are_sent(receiver, rep, django_capture_on_commit_callbacks):
    WebhookEndpoint.objects.create(name="Deals only", url=receiver.url)  # the defaults: deal events only
    WebhookEndpoint.objects.create(name="Off", url=receiver.url, is_active=False, **DIRECTORY_EVENTS)
    WebhookEndpoint.objects.create(name="Changes", url=receiver.url, on_person_changed=True)
    with django_capture_on_commit_callbacks(execute=True):
        person = people.person_create(actor=rep, name="Ann", owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        organizations.organization_create(actor=rep, name="Acme", owner=rep)
    assert receiver.requests == []
    with django_capture_on_commit_callbacks(execute=True):
        people.person_update(person=person, actor=rep, job_title="CTO")
    assert _events(receiver) == ["person.changed"]


def test_nothing_is_written_to_the_outbox_when_nobody_subscribes(rep):
    WebhookEndpoint.objects.create(name="Deals only", url="http://127.0.0.1:9/hook")
    person = people.person_create(actor=rep, name="Ann", owner=rep)
    people.person_update(person=person, actor=rep, job_title="CTO")
    organizations.organization_create(actor=rep, name="Acme", owner=rep)
    assert not OutboxMessage.objects.filter(topic=directory_changed.name).exists()


def test_the_event_is_written_in_the_change_s_transaction(endpoint, rep):
    person = people.person_create(actor=rep, name="Ann", owner=rep)
    assert OutboxMessage.objects.filter(topic=directory_changed.name, handler="api.webhook_directory_deliveries").count() == 1

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        people.person_update(person=person, actor=rep, name="Changed")
        raise Abandoned
    assert OutboxMessage.objects.filter(topic=directory_changed.name).count() == 1  # the change's message rolled back too
    message = OutboxMessage.objects.get(topic=directory_changed.name)
    assert {k: v for k, v in message.payload.items() if k != "occurred_at"} == {
        "model": "person", "kind": "created", "ids": [person.pk]}


def test_imports_are_published_but_not_sent_as_webhooks(endpoint, receiver, rep, django_capture_on_commit_callbacks):
    from pipeline.models import Organization

    with django_capture_on_commit_callbacks(execute=True):
        organizations.organizations_bulk_import(
            organizations=[Organization(name="Imported", owner=rep)], actor=rep,
            contacts=[{"name": "Ivy", "email": "ivy@example.com"}],
        )
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_a_record_deleted_before_delivery_is_left_out(endpoint, receiver, rep):
    from api import webhooks

    person = people.person_create(actor=rep, name="Ann", owner=rep)
    assert webhooks.directory_deliveries_create(model="person", kind="changed", ids=[person.pk + 1000]) == []
    assert webhooks.directory_deliveries_create(model="deal", kind="changed", ids=[person.pk]) == []
    assert webhooks.directory_deliveries_create(model="person", kind="imported", ids=[person.pk]) == []
    (delivery,) = webhooks.directory_deliveries_create(model="person", kind="changed", ids=[person.pk])
    assert delivery.payload["person"]["name"] == "Ann"


def test_the_admin_shows_what_a_delivery_is_about(admin_user, endpoint, rep, client):
    from api import webhooks

    person = people.person_create(actor=rep, name="Ann", owner=rep)
    webhooks.directory_deliveries_create(model="person", kind="created", ids=[person.pk])
    client.force_login(admin_user)
    page = client.get("/admin/api/webhookdelivery/").content.decode()
    assert f"person {person.pk}" in page and "Person created" in page
    assert "on_person_merged" in client.get(f"/admin/api/webhookendpoint/{endpoint.pk}/change/").content.decode()


def test_a_real_merge_of_two_people_is_delivered_as_person_merged(endpoint, receiver, rep, django_capture_on_commit_callbacks):
    from pipeline.merging import people_merge

    survivor = people.person_create(actor=rep, name="Anna Müller", owner=rep, emails=["anna@acme.example"])
    merged = people.person_create(actor=rep, name="Anna Mueller", owner=rep, emails=["a.mueller@acme.example"])
    receiver.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        people_merge(survivor=survivor, merged=merged, actor=rep)
    assert "person.merged" in _events(receiver)
    payload = next(_verify(r) for r in receiver.requests if _verify(r).get("merged_ids") == [merged.pk])
    assert payload["person"]["id"] == survivor.pk
    assert sorted(e["address"] for e in payload["person"]["emails"]) == ["a.mueller@acme.example", "anna@acme.example"]
