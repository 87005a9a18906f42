"""GET /healthz: the status of the database, cache/broker and workers, without secrets."""
import json
from contextlib import contextmanager

import pytest
from django.db import OperationalError
from django.test import override_settings

from config import health
from config.celery import app as celery_app
from tests.services import closed_redis_url

pytestmark = pytest.mark.django_db

SECRET_LOOKING = "postgres://stageflow:hunter2@db.internal:5432/stageflow"


@pytest.fixture
def broker_mode(monkeypatch):
    """Switch the Celery app between eager (no broker) and a broker with fake workers."""

    def set_mode(*, eager: bool, broker_up: bool = True, workers: int = 0):
        monkeypatch.setitem(celery_app.conf, "task_always_eager", eager)

        class FakeConnection:
            transport_cls = "redis"

            def ensure_connection(self, **kwargs):
                if not broker_up:
                    raise OperationalError(f"Error connecting to {SECRET_LOOKING}")

        @contextmanager
        def connection_for_write():
            yield FakeConnection()

        monkeypatch.setattr(celery_app, "connection_for_write", connection_for_write)
        replies = [{f"worker{i}@host": {"ok": "pong"}} for i in range(workers)]
        monkeypatch.setattr(celery_app.control, "ping", lambda **kwargs: replies)

    return set_mode


def get_health(client):
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response, json.loads(response.content)


def test_healthz_answers_without_sign_in_and_reports_eager_mode(client, broker_mode):
    broker_mode(eager=True)
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "eager"
    assert body["checks"]["workers"]["status"] == "eager"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_healthy_with_a_broker_and_a_worker(client, broker_mode):
    broker_mode(eager=False, workers=2)
    response, body = get_health(client)
    assert response.status_code == 200
    assert body["checks"]["workers"] == {"status": "ok", "count": 2, "ms": body["checks"]["workers"]["ms"]}


def test_healthz_is_503_when_no_worker_answers(client, broker_mode):
    broker_mode(eager=False, workers=0)
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["status"] == "error"
    assert body["checks"]["workers"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


def test_healthz_is_503_when_the_broker_is_down_and_hides_its_address(client, broker_mode):
    broker_mode(eager=False, broker_up=False, workers=1)
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["checks"]["broker"] == {"status": "error", "error": "OperationalError", "ms": body["checks"]["broker"]["ms"]}
    assert body["checks"]["workers"]["status"] == "unknown"
    assert "hunter2" not in response.content.decode() and "db.internal" not in response.content.decode()


def test_healthz_is_503_when_the_database_is_down_and_hides_the_message(client, broker_mode, monkeypatch):
    broker_mode(eager=True)

    class BrokenConnection:
        vendor = "postgresql"

        def cursor(self):
            raise OperationalError(f"connection to {SECRET_LOOKING} failed")

    monkeypatch.setattr(health, "connection", BrokenConnection())
    response, body = get_health(client)
    assert response.status_code == 503
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert "hunter2" not in response.content.decode()


def test_healthz_is_503_when_the_cache_is_unreachable(client, broker_mode):
    broker_mode(eager=True)
    url = closed_redis_url()
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    with override_settings(CACHES=caches):
        response, body = get_health(client)
    assert response.status_code == 503
    assert body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["cache"]["error"] == "ConnectionError"
    assert url not in response.content.decode()


def test_healthz_never_shows_secrets_or_urls(client, broker_mode, settings):
    broker_mode(eager=False, workers=1)
    response, _ = get_health(client)
    text = response.content.decode()
    assert "://" not in text
    assert settings.SECRET_KEY not in text
    password = settings.DATABASES["default"].get("PASSWORD")
    if password:
        assert password not in text
