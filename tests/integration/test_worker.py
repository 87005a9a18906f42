"""A move on the board reaches the forecast through the broker and a real worker process."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.result import AsyncResult
from django.utils import timezone

from config.celery import app as celery_app
from outbox.models import OutboxMessage
from pipeline import services
from tests.factories import DealFactory
from tests.services import forecast_clean_run, forecast_comparable, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


REFRESH_DONE = re.compile(r"forecasting\.tasks\.forecast_refresh\[([0-9a-f-]+)\] succeeded")


def refreshes_in(worker) -> list[str]:
    """The ids of the recomputes the worker logged as finished (just after storing the result)."""
    return REFRESH_DONE.findall(worker.log())


def first_refresh_result(worker) -> dict:
    wait_for(lambda: refreshes_in(worker), timeout=60, message="a recompute on the worker", details=worker.log)
    return AsyncResult(refreshes_in(worker)[0], app=celery_app).get(timeout=10, disable_sync_subtasks=False)


def test_a_move_updates_the_forecast_computed_by_the_worker(start_worker, enqueued, rep, stages):
    """The move records its follow-ups in the outbox; the worker dispatches them after the commit
    and its forecasting follower asks for the (debounced) recompute."""
    worker = start_worker()
    closes_soon = timezone.localdate() + timedelta(days=7)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"), expected_close=closes_soon)
    stale = forecast_clean_run(deal.pipeline_id)

    services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep, expected_version=1)

    assert enqueued == [], "this process only handed the outbox to the worker"
    outcome = first_refresh_result(worker)
    assert outcome["state"] == "done"
    fresh = forecast_clean_run(deal.pipeline_id)
    assert forecast_comparable(outcome["forecast"]) == fresh, "the worker saw the committed move"
    assert fresh != stale, "and the move changed the forecast"
    assert len(refreshes_in(worker)) == 1, worker.log()
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_a_burst_of_moves_leads_to_one_recompute_that_sees_all_of_them(start_worker, enqueued, rep, stages, settings):
    worker = start_worker(FORECAST_REFRESH_DEBOUNCE_SECONDS=3)
    deals = [DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("100.00")) for _ in range(5)]
    for deal in deals:
        services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep, expected_version=1)

    outcome = first_refresh_result(worker)
    assert forecast_comparable(outcome["forecast"]) == forecast_clean_run(deals[0].pipeline_id)
    wait_for(lambda: not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists(), timeout=20,
             message="all five moves' follow-ups to be dispatched", details=worker.log)
    assert len(refreshes_in(worker)) == 1, "five moves within the debounce window, one refresh"
