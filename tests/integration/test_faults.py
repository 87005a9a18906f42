"""Faults production brings: Redis gone, a worker killed half-way, two recomputes at once."""
import json
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection

from forecasting import tasks
from pipeline import services
from tests.factories import DealFactory, UserFactory
from tests.services import (
    ROOT, Browser, Server, closed_redis_url, forecast_clean_run, forecast_comparable, forecast_published, subprocess_env,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "a-long-and-unusual-passphrase"


# --- Redis unreachable --------------------------------------------------------------------


@pytest.fixture
def signed_in_rep(settings, team):
    # The server checks passwords with the production hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory(username="ruth", role="rep", team=team, password=PASSWORD)
    return user


def test_with_redis_down_sign_in_board_moves_and_edits_work_and_health_says_503(signed_in_rep, stages, tmp_path):
    deal = DealFactory(owner=signed_in_rep, stage=stages["Prospecting"], amount=Decimal("1000.00"))
    server = Server(log_dir=tmp_path, REDIS_URL=closed_redis_url()).start()
    try:
        browser = Browser(server.url)
        status, final, _, _ = browser.sign_in("ruth", PASSWORD)
        assert status == 200 and not final.startswith("/accounts/login/"), "sign-in must work without Redis"

        statuses = {}
        for path in ("/", "/pipeline/", f"/pipeline/deals/{deal.pk}/", "/forecast/", "/api/v1/deals/"):
            statuses[path] = browser.request(path)[0]
        status, _, _, move_seconds = browser.request(
            f"/pipeline/deals/{deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": 1},
            headers={"HX-Request": "true"},
        )
        statuses["move"] = status
        status, _, _, edit_seconds = browser.request(
            f"/pipeline/deals/{deal.pk}/",
            {"title": "Renewal 2027", "organization": deal.organization_id, "amount": "2500.00", "currency": "EUR",
             "next_step": "Send the offer", "owner": signed_in_rep.pk, "version": 2},
        )
        statuses["edit"] = status
        health_status, _, health_body, _ = browser.request("/healthz")
    finally:
        server.stop()

    assert all(code < 500 for code in statuses.values()), (statuses, server.log())
    assert statuses["move"] == 200 and statuses["edit"] == 200, statuses
    assert move_seconds < 5 and edit_seconds < 5, "a change must not hang on the unreachable broker"
    deal.refresh_from_db()
    assert (deal.stage_id, deal.title, deal.amount, deal.version) == (
        stages["Qualification"].pk, "Renewal 2027", Decimal("2500.00"), 3
    )
    assert health_status == 503
    health = json.loads(health_body)
    assert health["checks"]["database"]["status"] == "ok"
    assert health["checks"]["cache"]["status"] == "error"
    assert health["checks"]["broker"]["status"] == "error"


OUTAGE_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from pipeline import services
from pipeline.models import Stage
deal_id, stage_id, user_id = map(int, sys.argv[1:4])
user = get_user_model().objects.get(pk=user_id)
started = time.monotonic()
moved = services.deal_move(deal=deal_id, to_stage=Stage.objects.get(pk=stage_id), actor=user, expected_version=1)
move_seconds = time.monotonic() - started
started = time.monotonic()
edited = services.deal_update(deal=deal_id, actor=user, expected_version=moved.version, amount="2500", next_step="Send offer")
print(json.dumps({"version": edited.version, "stage": edited.stage_id, "amount": str(edited.amount),
                  "move_seconds": move_seconds, "edit_seconds": time.monotonic() - started}))
"""


@pytest.mark.parametrize("outage", ["redis", "broker"])
def test_moves_and_edits_commit_when_redis_or_the_broker_is_down(outage, rep, stages):
    """The services run in a process configured with an unreachable Redis (cache and broker),
    or with the cache up and only the broker down; both commit and log, none raises or hangs."""
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    env = {"REDIS_URL": closed_redis_url()} if outage == "redis" else {"CELERY_BROKER_URL": closed_redis_url()}
    done = subprocess.run(
        [sys.executable, "-c", OUTAGE_SCRIPT, str(deal.pk), str(stages["Qualification"].pk), str(rep.pk)],
        cwd=ROOT, env=subprocess_env(**env), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"] == 3 and result["stage"] == stages["Qualification"].pk
    assert result["move_seconds"] < 5 and result["edit_seconds"] < 5
    # The follow-ups stay in the outbox for the sweep (tests/outbox).
    assert "the periodic sweep will" in done.stderr
    deal.refresh_from_db()
    assert (deal.stage_id, deal.amount, deal.version) == (stages["Qualification"].pk, Decimal("2500.00"), 3)
    assert cache.get(tasks.debounce_key(deal.pipeline_id)) is None, "no marker left to block the next move"


# --- A worker killed half-way -------------------------------------------------------------


def open_transactions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


# The fit of the history (ForecastFit) is stored when it is computed, in its own transaction before
# the forecast's short write transaction: complete by itself, and what the next run starts from.
# Everything the forecast itself publishes is written all at once or not at all.
FIT = ("forecasting.ForecastFit",)


def test_a_worker_killed_mid_recompute_leaves_no_half_written_result(start_worker, enqueued, rep, stages, tmp_path):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"))
    before = forecast_published(deal.pipeline_id, exclude=FIT)
    trace = tmp_path / "trace"
    doomed = start_worker(
        module="tests.integration.instrumented_worker",
        STAGEFLOW_TEST_TRACE=trace, STAGEFLOW_TEST_PAUSE=120, STAGEFLOW_TEST_LOCK_TIMEOUT=4,
    )

    services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep, expected_version=1)
    wait_for(lambda: trace.exists() and "written" in trace.read_text(), timeout=60, message="the recompute to write",
             details=doomed.log)
    assert tasks.refresh_lock(deal.pipeline_id).locked()
    doomed.kill()

    # Nothing of the killed run is visible: no rows, no cached result; PostgreSQL rolled the
    # dead worker's transaction back.
    assert forecast_published(deal.pipeline_id, exclude=FIT) == before
    wait_for(lambda: open_transactions() == 0, timeout=10, message="the dead worker's transaction to end")
    # The dead owner's lock expires by itself; nobody has to clean up after a crash.
    wait_for(lambda: not tasks.refresh_lock(deal.pipeline_id).locked(), timeout=10, message="the lock to expire")

    start_worker()
    outcome = tasks.forecast_refresh.delay(deal.pipeline_id).get(timeout=60, disable_sync_subtasks=False)
    assert outcome["state"] == "done"
    assert forecast_comparable(outcome["forecast"]) == forecast_clean_run(deal.pipeline_id)
    assert forecast_published(deal.pipeline_id, exclude=FIT) != before


def test_the_recompute_of_a_killed_worker_is_delivered_again_without_beat_or_another_change(
    start_worker, rep, stages, tmp_path
):
    """Issue: the killed worker's lock stayed 210 s and its task was never delivered again, so the
    forecast stayed stale until beat or the next change. Now the lock is a lease renewed while the
    recompute runs, and the broker hands the unacknowledged task to the next worker once its
    visibility timeout passed (shortened here from its production value, past the longest task)."""
    import time

    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"))
    before = forecast_published(deal.pipeline_id, exclude=FIT)
    trace = tmp_path / "trace"
    visibility = dict(CELERY_VISIBILITY_TIMEOUT=5)
    doomed = start_worker(
        module="tests.integration.instrumented_worker", STAGEFLOW_TEST_TRACE=trace, STAGEFLOW_TEST_PAUSE=120,
        **visibility,
    )
    services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep, expected_version=1)
    wait_for(lambda: trace.exists() and "written" in trace.read_text(), timeout=60, message="the recompute to write",
             details=doomed.log)
    assert tasks.refresh_lock(deal.pipeline_id).locked()
    doomed.kill()
    killed_at = time.monotonic()

    wait_for(lambda: not tasks.refresh_lock(deal.pipeline_id).locked(), timeout=tasks.REFRESH_LOCK_LEASE + 5,
             message="the dead owner's lease to run out")
    lock_free_after = time.monotonic() - killed_at
    assert forecast_published(deal.pipeline_id, exclude=FIT) == before, "nothing of the killed run is visible"

    successor = start_worker(**visibility)  # no beat, and nobody changes anything
    wait_for(lambda: forecast_published(deal.pipeline_id, exclude=FIT) != before, timeout=90,
             message="the killed recompute to be delivered again", details=successor.log)
    current_after = time.monotonic() - killed_at
    wait_for(lambda: "'done'" in successor.log(), timeout=10, message="the redelivered task's result",
             details=successor.log)
    print(f"\nlock free {lock_free_after:.1f} s and forecast current {current_after:.1f} s after the kill")


# --- Two recomputes at once ---------------------------------------------------------------


def test_overlapping_recomputes_of_one_forecast_never_run_at_once(start_worker, rep, stages, tmp_path):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("1000.00"))
    trace = tmp_path / "trace"
    env = dict(module="tests.integration.instrumented_worker", STAGEFLOW_TEST_TRACE=trace, STAGEFLOW_TEST_PAUSE=2,
               FORECAST_REFRESH_DEBOUNCE_SECONDS=1)
    first, second = start_worker(**env), start_worker(**env)

    tasks.forecast_refresh.delay(deal.pipeline_id)
    tasks.forecast_refresh.delay(deal.pipeline_id)

    wait_for(lambda: trace.exists() and trace.read_text().count("end") >= 2, timeout=40, message="two recomputes",
             details=lambda: (trace.read_text() if trace.exists() else "no trace") + first.log() + second.log())
    events = sorted((float(t), kind, pid) for kind, pid, t in (line.split() for line in trace.read_text().splitlines()))
    running = 0
    for _, kind, _ in events:
        running += {"start": 1, "end": -1}.get(kind, 0)
        assert running <= 1, f"two recomputes overlapped: {events}"
    # The workers log a task's result just after the recompute's last trace line.
    wait_for(lambda: (first.log() + second.log()).count("'done'") >= 2, timeout=20,
             message="the rescheduled recompute to finish after the first", details=lambda: first.log() + second.log())
    assert "'busy'" in first.log() + second.log(), "the second recompute met the lock and was rescheduled"


IMPORT_START_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.db import transaction
from imports.models import ImportJob
from imports.services import import_start
job = ImportJob.objects.get(pk=int(sys.argv[1]))
started = time.monotonic()
with transaction.atomic():
    queued = import_start(job)
print(json.dumps({"queued": queued, "seconds": time.monotonic() - started}))
"""


def test_a_worker_sized_import_with_redis_down_fails_at_once_with_a_clear_message(rep, settings):
    from imports.models import ImportJob, ImportStatus
    from imports.parsing import parse_bytes
    from imports.services import import_settings, job_create
    from tests.imports.conftest import csv_bytes

    rows = import_settings()["background_rows"] + 1
    parsed = parse_bytes(csv_bytes("Company", *[f"Queued Lead {i}" for i in range(rows)]), max_rows=rows + 1)
    job = job_create(user=rep, kind="organizations", parsed=parsed, filename="large.csv")
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_START_SCRIPT, str(job.pk)],
        cwd=ROOT, env=subprocess_env(REDIS_URL=closed_redis_url()), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    job = ImportJob.objects.get(pk=job.pk)

    assert result["queued"] is True
    assert result["seconds"] < 5, "the request must not wait for the unreachable broker"
    assert job.status == ImportStatus.FAILED
    assert job.message == "Nothing was imported: the import could not be started. Please try again in a few minutes."
