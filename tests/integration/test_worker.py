"""A move on the board reaches the forecast through the broker and a real worker process."""
from decimal import Decimal

import pytest
from django.core.cache import cache

from pipeline import services
from tests.factories import DealFactory
from tests.services import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def forecast_of(pipeline_id):
    return cache.get(f"forecast:pipeline:{pipeline_id}")


def weighted_eur(pipeline_id):
    forecast = forecast_of(pipeline_id)
    return forecast and Decimal(forecast["by_currency"].get("EUR", {}).get("weighted", "0"))


def refreshes_in(worker) -> int:
    return sum(1 for line in worker.log().splitlines() if "forecast_refresh[" in line and "succeeded" in line)


def test_a_move_updates_the_forecast_computed_by_the_worker(start_worker, rep, stages):
    worker = start_worker()
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"))
    assert forecast_of(deal.pipeline_id) is None

    services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep, expected_version=1)

    wait_for(lambda: weighted_eur(deal.pipeline_id) == Decimal("600"), timeout=30, message="the worker's forecast")
    assert refreshes_in(worker) == 1, worker.log()


def test_a_burst_of_moves_leads_to_one_recompute_that_sees_all_of_them(start_worker, rep, stages, settings):
    settings.FORECAST_REFRESH_DEBOUNCE_SECONDS = 3
    worker = start_worker()
    deals = [DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("100.00")) for _ in range(5)]
    for deal in deals:
        services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep, expected_version=1)

    wait_for(lambda: weighted_eur(deals[0].pipeline_id) == Decimal("400"), timeout=30, message="the forecast")
    assert refreshes_in(worker) == 1, worker.log()
