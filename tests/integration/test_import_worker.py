"""A large import sent through the real broker (Redis) and run by a Celery worker on PostgreSQL."""
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from config.celery import app as celery_app
from imports.models import ImportStatus
from pipeline.models import Organization
from tests.factories import UserFactory
from tests.imports.conftest import csv_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_worker(monkeypatch, settings):
    if not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""):
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): a worker thread cannot share SQLite's test database")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    settings.STAGEFLOW = {**settings.STAGEFLOW, "IMPORT_BACKGROUND_ROWS": 10}
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


def test_a_queued_import_is_run_by_the_worker(client, real_worker):
    from imports.parsing import parse_bytes
    from imports.services import job_create

    user = UserFactory(username="wanda")
    parsed = parse_bytes(csv_bytes("Company", *[f"Worker Lead {i}" for i in range(150)]), max_rows=1000)
    job = job_create(user=user, kind="organizations", parsed=parsed, filename="fair.csv")
    client.force_login(user)
    response = client.post(reverse("imports:commit", args=[job.pk]))
    assert response.status_code == 302
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            break
        time.sleep(0.2)
    assert job.status == ImportStatus.DONE, job.message
    assert Organization.objects.filter(name__startswith="Worker Lead").count() == 150
