"""Integration tests run on PostgreSQL and Redis with real Celery worker processes.

They are skipped, with the reason, only when those services are not configured or do not
answer; `.ci/run` provides them and fails on any skip.
"""
import pytest

from config.celery import app as celery_app
from tests.services import ThrowawayRedis, Worker, broker_discard_unacked, postgres_missing_reason, redis_missing_reason


@pytest.fixture(autouse=True)
def _real_services_required():
    reason = postgres_missing_reason() or redis_missing_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _default_pipeline_present(_real_services_required, transactional_db):
    """The default pipeline the data migration creates. The browser tests run just before these and
    their flush can leave the database without it (see tests/browser/conftest.py); recreate it."""
    import importlib

    from django.apps import apps

    from pipeline.models import Pipeline

    if not Pipeline.objects.exists():
        importlib.import_module("pipeline.migrations.0002_default_pipeline").create_defaults(apps, None)


@pytest.fixture
def with_broker(monkeypatch, settings):
    """This test process publishes to the real broker instead of running tasks in-process."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    settings.FORECAST_REFRESH_DEBOUNCE_SECONDS = 1
    celery_app.control.purge()  # only the suite's own queue (CELERY_TASK_DEFAULT_QUEUE)
    broker_discard_unacked(settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.fixture
def start_worker(with_broker, tmp_path, settings):
    """Start real worker processes on the test database; all are stopped after the test."""
    workers = []

    def start(**kwargs) -> Worker:
        worker = Worker(log_dir=tmp_path, **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    broker_discard_unacked(settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.fixture
def enqueued(with_broker, monkeypatch):
    """The AsyncResults of the forecast refreshes this test process sends to the broker."""
    from forecasting import tasks

    results = []
    send = tasks.forecast_refresh.apply_async

    def recording(*args, **kwargs):
        results.append(send(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(tasks.forecast_refresh, "apply_async", recording)
    return results


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, to stop and start; stopped after the test."""
    server = ThrowawayRedis(tmp_path).start()
    yield server
    server.stop()
