"""Follow-ups of a change: recorded with it, carried out after it, never lost, never failing it."""
import logging
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError
from rest_framework.test import APIClient

from api.models import ApiToken, WebhookDelivery, WebhookEndpoint
from config.celery import app as celery_app
from config.schedules import CELERY_BEAT_SCHEDULE
from forecasting import tasks as forecast_tasks
from outbox import services as outbox_services
from outbox import tasks as outbox_tasks
from outbox import topics
from outbox.models import OutboxMessage
from pipeline import services
from pipeline.models import Organization
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    """Laptop mode: the dispatch after the commit runs in the request's process."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


@pytest.fixture
def endpoint(db):
    return WebhookEndpoint.objects.create(name="Billing", url="http://127.0.0.1:9/hook", secret="s3cret")


@pytest.fixture
def sent(monkeypatch):
    """The webhook deliveries handed to the sender (no HTTP in these tests)."""
    from api import tasks as api_tasks

    handed = []
    monkeypatch.setattr(api_tasks, "webhook_deliveries_enqueue", lambda ids: handed.extend(ids))
    return handed


@pytest.fixture
def broken_forecast_follower(monkeypatch):
    """The forecasting follower raises, as a bug or an outage inside it would."""

    def broken(*, pipeline_id):
        raise RuntimeError("forecast scheduling exploded")

    monkeypatch.setattr(forecast_tasks, "forecast_refresh_schedule", broken)


@pytest.fixture
def test_topic(monkeypatch):
    """A topic of this test only, with its own handlers (removed again afterwards)."""
    monkeypatch.setattr(topics, "_handlers", dict(topics._handlers))
    return topics.Topic("tests.something_changed")


def _move_through_htmx(client, deal, stage):
    return client.post(
        reverse("pipeline:deal_move", args=[deal.pk]), {"stage": stage.pk, "version": deal.version},
        HTTP_HX_REQUEST="true",
    )


def _move_through_api(client, deal, stage):
    _, key = ApiToken.issue(user=deal.owner, name="Follow-ups")
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api.post(f"/api/v1/deals/{deal.pk}/move/", {"stage": stage.pk, "version": deal.version}, format="json")


@pytest.mark.parametrize("move", [_move_through_htmx, _move_through_api], ids=["htmx", "api"])
def test_a_failing_follower_never_fails_the_committed_move_and_is_retried(
    move, client, rep, stages, endpoint, sent, broken_forecast_follower, caplog, django_capture_on_commit_callbacks
):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    with caplog.at_level(logging.ERROR, logger="outbox.services"):
        with django_capture_on_commit_callbacks(execute=True):
            response = move(client, deal, stages["Qualification"])

    assert response.status_code == 200, response.content
    deal.refresh_from_db()
    assert (deal.stage, deal.version) == (stages["Qualification"], 2)
    # The other followers ran all the same: the move's webhook delivery is recorded and sent.
    deliveries = list(WebhookDelivery.objects.filter(deal_id=deal.pk))
    assert [(d.endpoint_id, d.event) for d in deliveries] == [(endpoint.pk, "moved")]
    assert sent == [deliveries[0].pk]
    # The failure is logged with its cause and kept for a retry.
    assert "Outbox handler forecasting.refresh failed" in caplog.text
    assert "forecast scheduling exploded" in caplog.text
    failed = OutboxMessage.objects.get(handler="forecasting.refresh")
    assert failed.dispatched_at is None and failed.attempts == 1
    assert "RuntimeError: forecast scheduling exploded" in failed.last_error
    assert failed.available_at > timezone.now()


def test_a_failed_follower_is_retried_by_the_sweep_once_due(
    monkeypatch, rep, stages, endpoint, sent, django_capture_on_commit_callbacks
):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    scheduled = []

    def down(*, pipeline_id):
        raise RuntimeError("down")

    monkeypatch.setattr(forecast_tasks, "forecast_refresh_schedule", down)
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    failed = OutboxMessage.objects.get(handler="forecasting.refresh")

    monkeypatch.setattr(
        forecast_tasks, "forecast_refresh_schedule", lambda *, pipeline_id: scheduled.append(pipeline_id)
    )
    assert outbox_tasks.outbox_sweep.apply().result["done"] == 0, "not before its retry is due"
    with time_machine.travel(failed.available_at + timedelta(seconds=1), tick=False):
        assert outbox_tasks.outbox_sweep.apply().result == {"done": 1, "failed": 0, "skipped": 0}
    assert scheduled == [deal.pipeline_id]
    failed.refresh_from_db()
    assert failed.dispatched_at is not None and failed.attempts == 2 and failed.last_error == ""
    # The followers that had succeeded did not run again.
    assert WebhookDelivery.objects.filter(deal_id=deal.pk).count() == 1


def test_retries_back_off_and_are_capped():
    delays = [outbox_services.retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays == sorted(delays) and max(delays) == 60 * 60


def test_follow_ups_are_written_in_the_change_s_transaction(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
        assert OutboxMessage.objects.count() == 2
        raise Abandoned  # the change rolls back: so do its follow-ups
    assert not OutboxMessage.objects.exists()


def test_only_interested_followers_get_a_message(rep, stages, django_capture_on_commit_callbacks):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=1000)
    with django_capture_on_commit_callbacks(execute=False):
        services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)
    assert set(OutboxMessage.objects.values_list("handler", flat=True)) == {
        "forecasting.refresh", "api.webhook_deliveries",
    }


def test_a_failing_handler_leaves_nothing_half_written(test_topic, caplog):
    @test_topic.handler("tests.half_way")
    def half_way(*, name):
        Organization.objects.create(name=name)
        raise ValueError("after the first write")

    with transaction.atomic():
        [message_id] = test_topic.publish(name="Acme")
    assert outbox_services.message_dispatch(message_id) is False
    assert not Organization.objects.filter(name="Acme").exists()
    assert OutboxMessage.objects.get(pk=message_id).attempts == 1


def test_a_message_is_carried_out_once(test_topic):
    runs = []
    test_topic.handler("tests.count")(lambda **payload: runs.append(payload))
    with transaction.atomic():
        [message_id] = test_topic.publish(n=1)
    assert outbox_services.messages_dispatch([message_id, message_id]) == {"done": 1, "failed": 0, "skipped": 1}
    assert outbox_services.message_dispatch(message_id) is None
    assert [run["n"] for run in runs] == [1]


def test_a_message_of_an_unknown_handler_is_kept_and_logged(test_topic, caplog):
    message = OutboxMessage.objects.create(topic=test_topic.name, handler="tests.gone", payload={})
    with caplog.at_level(logging.ERROR, logger="outbox.services"):
        assert outbox_services.message_dispatch(message.pk) is False
    assert "No outbox handler is called 'tests.gone'" in caplog.text


def test_two_handlers_may_not_share_a_name(test_topic):
    test_topic.handler("tests.twice")(lambda **payload: None)
    with pytest.raises(ValueError):
        test_topic.handler("tests.twice")(lambda **payload: None)


def test_messages_written_while_the_broker_was_down_are_dispatched_by_the_sweep(
    monkeypatch, rep, stages, endpoint, sent, caplog, django_capture_on_commit_callbacks
):
    """A recompute is enqueued, and the webhooks recorded, for what changed while the worker was away."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)

    def broker_down(*args, **kwargs):
        raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(outbox_tasks.outbox_dispatch, "delay", broker_down)
    enqueued = []
    monkeypatch.setattr(forecast_tasks.forecast_refresh, "apply_async", lambda args, **kw: enqueued.append(args))
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    moved_at = timezone.now()
    with caplog.at_level(logging.WARNING, logger="outbox.services"):
        with django_capture_on_commit_callbacks(execute=True):
            moved = services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    assert moved.version == 2
    assert "the periodic sweep will" in caplog.text
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 2
    assert not WebhookDelivery.objects.exists() and enqueued == []

    # The broker is back; beat's sweep runs on the worker.
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        assert outbox_tasks.outbox_sweep.apply().result["done"] == 2
    assert enqueued == [(deal.pipeline_id,)]
    [delivery] = WebhookDelivery.objects.filter(deal_id=deal.pk, event="moved")
    # The receiver learns when the deal moved, not when the sweep ran.
    occurred = datetime.fromisoformat(delivery.payload["occurred_at"])
    assert moved_at <= occurred < moved_at + timedelta(seconds=30)


def test_the_sweep_runs_every_minute_from_beat():
    entry = CELERY_BEAT_SCHEDULE["outbox-sweep"]
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == 60.0


def test_in_laptop_mode_a_later_change_retries_what_failed_before(
    monkeypatch, rep, stages, endpoint, sent, django_capture_on_commit_callbacks
):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    with monkeypatch.context() as broken:
        broken.setattr(forecast_tasks, "forecast_refresh_schedule", lambda *, pipeline_id: 1 / 0)
        with django_capture_on_commit_callbacks(execute=True):
            services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    failed = OutboxMessage.objects.get(handler="forecasting.refresh", dispatched_at__isnull=True)
    with time_machine.travel(failed.available_at + timedelta(seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            services.deal_move(deal=deal.pk, to_stage=stages["Meeting & demo"], actor=rep)
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_the_pipeline_app_does_not_import_the_apps_built_on_it():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    built_on_it = {"forecasting", "activities", "offers", "api", "imports", "exports", "qualification"}
    found = []
    for path in (root / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in built_on_it]
    assert found == []


def test_in_laptop_mode_the_move_answers_before_its_follow_ups_run(
    client, rep, stages, monkeypatch, django_capture_on_commit_callbacks
):
    # Without a broker the dispatch goes to this process's background thread: the rep's request
    # neither waits for the follow-ups nor pays their queries.
    from config import background

    later = []
    monkeypatch.setattr(background, "submit", lambda job, *args: later.append((job, args)))
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("pipeline:deal_move", args=[deal.pk]),
            {"stage": stages["Qualification"].pk, "version": deal.version}, HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    assert [job for job, _ in later] == [outbox_services.dispatch_now]
    pending = OutboxMessage.objects.filter(dispatched_at__isnull=True)
    assert sorted(pending.values_list("pk", flat=True)) == sorted(later[0][1][0])
    later[0][0](*later[0][1])  # the thread's turn
    assert not pending.exists()
