"""A move on the board reaches the forecast through the broker and a real worker process."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline import services
from tests.factories import DealFactory
from tests.services import forecast_clean_run, forecast_comparable, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def refreshes_in(worker) -> int:
    """Recomputes the worker logged as finished (it logs just after storing the result)."""
    wait_for(lambda: "succeeded" in worker.log(), timeout=20, message="the worker's log", details=worker.log)
    return sum(1 for line in worker.log().splitlines() if "forecast_refresh[" in line and "succeeded" in line)


def test_a_move_updates_the_forecast_computed_by_the_worker(start_worker, enqueued, rep, stages):
    worker = start_worker()
    closes_soon = timezone.localdate() + timedelta(days=7)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"), expected_close=closes_soon)
    stale = forecast_clean_run(deal.pipeline_id)

    services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep, expected_version=1)

    assert len(enqueued) == 1, "the move asked for one refresh, after commit"
    outcome = enqueued[0].get(timeout=60, disable_sync_subtasks=False)
    assert outcome["state"] == "done"
    fresh = forecast_clean_run(deal.pipeline_id)
    assert forecast_comparable(outcome["forecast"]) == fresh, "the worker saw the committed move"
    assert fresh != stale, "and the move changed the forecast"
    assert refreshes_in(worker) == 1, worker.log()


def test_a_burst_of_moves_leads_to_one_recompute_that_sees_all_of_them(start_worker, enqueued, rep, stages, settings):
    settings.FORECAST_REFRESH_DEBOUNCE_SECONDS = 3
    worker = start_worker()
    deals = [DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("100.00")) for _ in range(5)]
    for deal in deals:
        services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep, expected_version=1)

    assert len(enqueued) == 1, "five moves within the debounce window, one refresh"
    outcome = enqueued[0].get(timeout=60, disable_sync_subtasks=False)
    assert forecast_comparable(outcome["forecast"]) == forecast_clean_run(deals[0].pipeline_id)
    assert refreshes_in(worker) == 1, worker.log()
