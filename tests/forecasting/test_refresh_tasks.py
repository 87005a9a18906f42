"""The forecast refresh plumbing: after commit, debounced, locked, retried, all or nothing."""
import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from config.celery import app as celery_app
from config.schedules import CELERY_BEAT_SCHEDULE
from forecasting import services as forecast_services
from forecasting import tasks
from forecasting.models import ForecastEvidence, ForecastSnapshot
from pipeline import services
from pipeline.models import Pipeline
from tests.factories import DealFactory
from tests.services import forecast_clean_run, forecast_comparable, forecast_published

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_broker(monkeypatch, settings):
    """Not eager: record what would be sent to the broker instead of sending it."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    settings.FORECAST_REFRESH_DEBOUNCE_SECONDS = 3
    sent = []
    monkeypatch.setattr(tasks.forecast_refresh, "apply_async", lambda args, **kw: sent.append((args, kw)))
    return sent


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def test_in_eager_mode_a_move_does_not_wait_for_the_forecast(eager, deal, stages, rep, monkeypatch, settings,
                                                              background_jobs, django_capture_on_commit_callbacks):
    settings.FORECAST_REFRESH_DEBOUNCE_SECONDS = 0
    calls = []
    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", lambda **kwargs: calls.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)
        services.deal_move(deal=deal.pk, to_stage=stages["Negotiation"], actor=rep)
    assert calls == []
    assert cache.get(tasks.debounce_key(deal.pipeline_id)) is not None
    # The recompute runs after the response, in the background thread: once for the burst.
    assert background_jobs.run() == 1
    assert calls == [{"pipeline_id": deal.pipeline_id}]
    assert cache.get(tasks.debounce_key(deal.pipeline_id)) is None


def test_nothing_is_enqueued_before_the_move_commits(with_broker, outbox_worker, deal, stages, rep,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)
    assert with_broker == []
    for callback in callbacks:
        callback()
    assert with_broker == [((deal.pipeline_id,), {"countdown": 3})]


def test_a_burst_of_moves_enqueues_one_recompute(with_broker, pipeline):
    results = [tasks.forecast_refresh_schedule(pipeline_id=pipeline.pk) for _ in range(10)]
    assert results == [True] + [False] * 9
    assert len(with_broker) == 1


def test_a_change_after_the_recompute_started_asks_for_another(with_broker, pipeline, eager_apply):
    assert tasks.forecast_refresh_schedule(pipeline_id=pipeline.pk)
    eager_apply(pipeline.pk)  # the pending recompute starts and clears the marker
    assert tasks.forecast_refresh_schedule(pipeline_id=pipeline.pk)
    assert len(with_broker) == 2


@pytest.fixture
def eager_apply(django_capture_on_commit_callbacks):
    """Run the task in-process as a worker would: retries re-run it, the result is published
    when its transaction commits."""

    def run(pipeline_id):
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.forecast_refresh.apply((pipeline_id,), throw=False)
        if result.failed():
            raise result.result
        return result.result

    return run


def test_broker_down_never_breaks_the_move_and_frees_the_debounce(monkeypatch, deal, stages, rep, caplog, outbox_worker,
                                                                   django_capture_on_commit_callbacks):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)

    def broker_down(*args, **kwargs):
        raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.forecast_refresh, "apply_async", broker_down)
    with caplog.at_level(logging.WARNING, logger="forecasting.tasks"):
        with django_capture_on_commit_callbacks(execute=True):
            moved = services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep, expected_version=1)
    assert moved.version == 2
    assert "periodic run will recompute" in caplog.text
    assert cache.get(tasks.debounce_key(deal.pipeline_id)) is None  # the next move tries again


def test_recompute_holds_the_lock_and_releases_it(pipeline, eager_apply, monkeypatch):
    seen = []

    def spy(*, pipeline_id):
        seen.append(tasks.refresh_lock(pipeline_id).locked())

    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", spy)
    assert eager_apply(pipeline.pk)["state"] == "done"
    assert seen == [True]
    assert not tasks.refresh_lock(pipeline.pk).locked()


def test_a_recompute_does_not_run_while_another_holds_the_lock(with_broker, pipeline, eager_apply, monkeypatch):
    calls = []
    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", lambda **kw: calls.append(kw))
    monkeypatch.setattr(tasks, "EAGER_LOCK_WAIT", 0.2)
    other = tasks.refresh_lock(pipeline.pk)
    assert other.acquire()
    assert eager_apply(pipeline.pk) == {"state": "busy"}
    assert calls == []
    assert with_broker == [((pipeline.pk,), {"countdown": 3})], "the refresh is asked for again, not dropped"
    assert eager_apply(pipeline.pk) == {"state": "busy"}  # the rescheduled run finds the lock still taken
    assert len(with_broker) == 2, "a second busy run is not swallowed by the debounce"
    assert other.locked(), "the busy run must not release someone else's lock"
    other.release()


def test_a_recompute_that_fails_half_way_publishes_nothing_and_frees_the_lock(eager, deal, stages, rep, eager_apply,
                                                                               monkeypatch):
    deal.expected_close = timezone.localdate() + timedelta(days=10)  # in this month's figures
    deal.save(update_fields=["expected_close"])
    eager_apply(deal.pipeline_id)
    services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)  # new figures to write
    before = forecast_published(deal.pipeline_id)
    snapshots = ForecastSnapshot.objects.count()

    def dies_after_the_snapshot_rows(**kwargs):  # the write's last statement
        raise RuntimeError("worker lost half-way")

    monkeypatch.setattr(ForecastEvidence.objects, "create", dies_after_the_snapshot_rows)
    with pytest.raises(RuntimeError):
        eager_apply(deal.pipeline_id)
    assert forecast_published(deal.pipeline_id) == before
    assert ForecastSnapshot.objects.count() == snapshots
    assert not tasks.refresh_lock(deal.pipeline_id).locked()


def test_transient_database_errors_are_retried(eager, pipeline, eager_apply, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)  # retry in-process as a worker would
    calls = []

    def flaky(*, pipeline_id):
        calls.append(pipeline_id)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", flaky)
    assert eager_apply(pipeline.pk)["state"] == "done"
    assert len(calls) == 3


def test_programming_errors_are_not_retried(eager, pipeline, eager_apply, monkeypatch):
    calls = []

    def broken(*, pipeline_id):
        calls.append(pipeline_id)
        raise ValueError("a bug")

    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", broken)
    with pytest.raises(ValueError):
        eager_apply(pipeline.pk)
    assert len(calls) == 1


def test_refresh_task_options_survive_a_lost_worker(settings):
    task = tasks.forecast_refresh
    assert task.acks_late and task.reject_on_worker_lost
    assert 0 < task.soft_time_limit < task.time_limit
    # A killed worker's lock is gone after one short lease, not after the whole time limit.
    assert 0 < tasks.REFRESH_LOCK_LEASE < task.soft_time_limit / 4
    # The broker hands an unacknowledged refresh out again once it can no longer be running.
    assert task.time_limit < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert task.max_retries and task.retry_backoff


def test_a_running_recompute_keeps_its_lock_past_the_lease(pipeline, eager_apply, monkeypatch):
    monkeypatch.setattr(tasks, "REFRESH_LOCK_LEASE", 1)
    seen = []

    def slow(*, pipeline_id):
        time.sleep(2.5)  # more than two leases
        seen.append(tasks.refresh_lock(pipeline_id).locked())

    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", slow)
    assert eager_apply(pipeline.pk)["state"] == "done"
    assert seen == [True]
    assert not tasks.refresh_lock(pipeline.pk).locked()


def test_beat_recomputes_every_pipeline_periodically(with_broker, pipeline, monkeypatch):
    entry = CELERY_BEAT_SCHEDULE["forecast-refresh-all"]
    assert entry["task"] in celery_app.tasks
    Pipeline.objects.create(name="Upsell")
    Pipeline.objects.create(name="Old", is_active=False)
    delayed = []
    monkeypatch.setattr(tasks.forecast_refresh, "delay", lambda pid: delayed.append(pid))
    assert tasks.forecast_refresh_all() == 2
    assert sorted(delayed) == sorted(Pipeline.objects.filter(is_active=True).values_list("pk", flat=True))


def test_a_refresh_returns_what_a_fresh_computation_gives(eager, deal, rep, stages, eager_apply):
    DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("500.00"), currency="USD")
    result = eager_apply(deal.pipeline_id)
    assert result["state"] == "done"
    assert forecast_comparable(result["forecast"]) == forecast_clean_run(deal.pipeline_id)


def test_after_a_broker_outage_the_periodic_run_brings_the_forecast_up_to_date(
    monkeypatch, deal, stages, rep, django_capture_on_commit_callbacks, outbox_worker
):
    real, results = forecast_services.forecast_refresh_pipeline, []

    def spy(**kwargs):
        results.append(real(**kwargs))
        return results[-1]

    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", spy)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    def broker_down(*args, **kwargs):
        raise BrokerOperationalError("Connection refused")

    with monkeypatch.context() as outage:
        outage.setattr(tasks.forecast_refresh, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    assert results == [], "nothing could be computed while the broker was down"

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)  # the broker is back; a worker runs beat's task
    with django_capture_on_commit_callbacks(execute=True):
        tasks.forecast_refresh_all.apply()
    assert [r["pipeline_id"] if isinstance(r, dict) else None for r in results] == [deal.pipeline_id]
    monkeypatch.setattr(forecast_services, "forecast_refresh_pipeline", real)
    assert forecast_comparable(results[0]) == forecast_clean_run(deal.pipeline_id)
