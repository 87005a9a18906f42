"""Outgoing webhooks, delivered to a local receiver on 127.0.0.1 (never any other address)."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery.signals import task_postrun

from api import webhooks
from api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from config.celery import app as celery_app
from tests.api.conftest import client_for
from tests.factories import DealFactory, OrganizationFactory, lost_reason

pytestmark = pytest.mark.django_db


class Receiver:
    """A tiny HTTP server in a thread that records what it receives and answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to answer, in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def eager_tasks():
    """Deliveries run in-process here, whatever broker the environment names."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpoint.objects.create(name="Billing", url=receiver.url, secret="s3cret")


def _verify(request, secret="s3cret") -> dict:
    headers = request["headers"]
    expected = "sha256=" + hmac.new(
        secret.encode(), headers["X-Stageflow-Timestamp"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["X-Stageflow-Signature"], expected)
    return json.loads(request["body"])


def test_a_move_through_the_api_is_delivered_signed(endpoint, receiver, rep, own_deal, stages, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(rep).post(
            f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": 1}, format="json"
        )
    assert response.status_code == 200
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    payload = _verify(request)
    assert request["headers"]["X-Stageflow-Event"] == "deal.moved"
    assert payload["event"] == "deal.moved" and payload["deal"]["id"] == own_deal.pk
    assert payload["deal"]["stage"] == stages["Qualification"].pk and payload["deal"]["version"] == 2
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (DeliveryStatus.DELIVERED, 1, 200)
    assert payload["delivery"] == str(delivery.uuid) == request["headers"]["X-Stageflow-Delivery"]


def test_created_won_and_lost_events(endpoint, receiver, rep, stages, django_capture_on_commit_callbacks):
    from pipeline import services

    with django_capture_on_commit_callbacks(execute=True):
        deal = services.deal_create(actor=rep, organization=OrganizationFactory(owner=rep), title="New", amount=10)
    with django_capture_on_commit_callbacks(execute=True):
        deal = services.deal_update(deal=deal, actor=rep, expected_close="2030-01-01")  # "updated": not an event
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    other = DealFactory(owner=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_mark_lost(deal=other, reason=lost_reason(), actor=rep)
    events = [r["headers"]["X-Stageflow-Event"] for r in receiver.requests]
    assert events == ["deal.created", "deal.won", "deal.lost"]


def test_only_subscribed_events_of_active_endpoints_are_sent(receiver, rep, own_deal, stages, django_capture_on_commit_callbacks):
    from pipeline import services

    WebhookEndpoint.objects.create(name="Lost only", url=receiver.url, on_created=False, on_moved=False, on_won=False)
    WebhookEndpoint.objects.create(name="Off", url=receiver.url, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_move(deal=own_deal, to_stage=stages["Qualification"], actor=rep)
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_mark_lost(deal=own_deal, reason=lost_reason(), actor=rep)
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_failed_deliveries_until_they_succeed(receiver, rep, stages, monkeypatch):
    """A real Celery worker (in a thread; in-memory broker, or Redis with REDIS_URL): two failures, then success."""
    from celery.contrib.testing.worker import start_worker

    from pipeline import services
    from tests.factories import default_pipeline

    # On Redis too: the suite publishes to its own queue (CELERY_TASK_DEFAULT_QUEUE, set in
    # tests/environment.py), which only the suite's workers consume.
    WebhookEndpoint.objects.create(name="Billing", url=receiver.url, secret="s3cret")
    deal = DealFactory(owner=rep, stage=default_pipeline().stages.get(name="Prospecting"))
    monkeypatch.setattr(webhooks, "retry_delay", lambda attempts: 0)
    celery_app.conf.task_always_eager = False
    receiver.answers = [500, 503]
    # Wait for the worker's word that a delivery task has finished instead of polling the
    # table: on SQLite's shared in-memory test database a read in this thread can hold a
    # table lock at the moment the worker writes.
    finished = threading.Event()

    def on_postrun(sender=None, state=None, **kwargs):
        if sender is not None and sender.name == "api.tasks.webhook_deliver" and state == "SUCCESS":
            finished.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            services.deal_move(deal=deal, to_stage=default_pipeline().stages.get(name="Qualification"), actor=rep)
            assert finished.wait(timeout=10), "the worker did not finish the delivery"
    finally:
        task_postrun.disconnect(on_postrun)
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 3
    assert (delivery.status, delivery.attempts, delivery.response_status) == (DeliveryStatus.DELIVERED, 3, 200)
    # The same delivery every time, so the receiver can drop duplicates.
    assert len({r["headers"]["X-Stageflow-Delivery"] for r in receiver.requests}) == 1


def test_in_laptop_mode_a_failed_delivery_stays_pending_and_the_deal_change_stands(
    endpoint, receiver, rep, own_deal, stages, django_capture_on_commit_callbacks
):
    from pipeline import services

    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        moved = services.deal_move(deal=own_deal, to_stage=stages["Qualification"], actor=rep)
    assert moved.stage == stages["Qualification"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == (DeliveryStatus.PENDING, 1, 500)
    assert len(receiver.requests) == 1


def test_a_delivery_gives_up_after_the_last_attempt(endpoint, receiver, own_deal):
    receiver.answers = [500] * 10
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    for _ in range(webhooks.MAX_ATTEMPTS + 2):
        webhooks.delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, webhooks.MAX_ATTEMPTS)
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS and delivery.last_error == "HTTP 500: ok"


def test_backoff_grows_and_is_capped():
    delays = [webhooks.retry_delay(n) for n in range(1, 9)]
    assert delays[:4] == [30, 120, 480, 1920]
    assert delays == sorted(delays) and max(delays) == 4 * 60 * 60


def test_redirects_are_not_followed(endpoint, receiver, own_deal):
    receiver.answers = [302]
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    delivery = webhooks.delivery_attempt(delivery.pk)
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.response_status) == (DeliveryStatus.PENDING, 302)


def test_an_unreachable_receiver_is_recorded_not_raised(own_deal, receiver):
    url = receiver.url
    receiver.close()  # nothing listens on that port any more
    WebhookEndpoint.objects.create(name="Gone", url=url)
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    delivery = webhooks.delivery_attempt(delivery.pk)
    assert delivery.attempts == 1 and delivery.response_status is None and delivery.last_error
    receiver.server = type("Closed", (), {"shutdown": lambda self: None, "server_close": lambda self: None})()


def test_a_delivered_delivery_is_not_sent_twice(endpoint, receiver, own_deal):
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    assert webhooks.delivery_attempt(delivery.pk).status == DeliveryStatus.DELIVERED
    assert webhooks.delivery_attempt(delivery.pk) is None
    assert len(receiver.requests) == 1


def test_the_delivery_log_is_in_the_admin(admin_user, endpoint, own_deal, client):
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    webhooks.delivery_attempt(delivery.pk)
    client.force_login(admin_user)
    page = client.get("/admin/api/webhookdelivery/")
    assert page.status_code == 200 and "Billing" in page.content.decode()
    assert client.get(f"/admin/api/webhookdelivery/{delivery.pk}/change/").status_code == 200
    assert client.get("/admin/api/webhookendpoint/add/").status_code == 200


def test_admin_can_send_a_delivery_again(admin_user, endpoint, receiver, own_deal, client):
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    webhooks.delivery_attempt(delivery.pk)
    client.force_login(admin_user)
    response = client.post(
        "/admin/api/webhookdelivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True
    )
    assert response.status_code == 200
    assert len(receiver.requests) == 2


def test_a_delivery_being_sent_elsewhere_is_not_sent_again(endpoint, receiver, own_deal):
    (delivery,) = webhooks.deliveries_create(event="moved", deal_ids={own_deal.pk})
    elsewhere = webhooks.delivery_lock(delivery.pk)
    assert elsewhere.acquire()  # another worker holds it
    try:
        assert webhooks.delivery_attempt(delivery.pk) is None
    finally:
        elsewhere.release()
    assert receiver.requests == []
    assert webhooks.delivery_attempt(delivery.pk).status == DeliveryStatus.DELIVERED
