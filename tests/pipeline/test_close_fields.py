"""What a close does to a deal's forward-looking fields: won, lost, reopened (issue: stale data
on closed deals). Each change is recorded in DealChange with who and when."""
from datetime import date, datetime, timezone as dt_timezone

import pytest
import time_machine

from pipeline import services
from pipeline.exceptions import PipelineError
from pipeline.forms import DealEditForm
from pipeline.models import DealChange, DealStatus, ForecastCategory
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=dt_timezone.utc)


def _changes(deal) -> dict[str, tuple[str, str]]:
    return {c.field: (c.old_value, c.new_value) for c in DealChange.objects.filter(deal=deal)}


@time_machine.travel(NOON, tick=False)
def test_a_won_deal_is_closed_won_closes_today_and_has_no_next_step(rep, stages):
    deal = DealFactory(
        owner=rep, stage=stages["Negotiation"], amount=1000, expected_close=date(2026, 12, 31),
        next_step="Send the contract", forecast_category=ForecastCategory.COMMIT,
    )
    won = services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    won.refresh_from_db()
    assert won.status == DealStatus.WON
    assert won.forecast_category == ForecastCategory.CLOSED
    assert won.expected_close == date(2026, 11, 20)
    assert won.next_step == ""
    assert _changes(won) == {
        "forecast_category": ("commit", "closed"),
        "expected_close": ("2026-12-31", "2026-11-20"),
        "next_step": ("Send the contract", ""),
    }
    assert set(DealChange.objects.filter(deal=won).values_list("actor", flat=True)) == {rep.pk}


@time_machine.travel(NOON, tick=False)
def test_a_lost_deal_leaves_the_forecast_and_its_next_step_but_keeps_its_planned_close(rep, stages):
    deal = DealFactory(
        owner=rep, stage=stages["Offer"], amount=1000, expected_close=date(2026, 12, 31), next_step="Call back",
    )
    lost = services.deal_mark_lost(deal=deal, reason=lost_reason(), actor=rep)
    lost.refresh_from_db()
    assert lost.forecast_category == ForecastCategory.OMITTED
    assert lost.next_step == ""
    assert lost.expected_close == date(2026, 12, 31)
    assert _changes(lost) == {"forecast_category": ("pipeline", "omitted"), "next_step": ("Call back", "")}


def test_a_reopened_deal_counts_in_the_pipeline_again(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=1000, expected_close=date(2026, 12, 31))
    services.deal_mark_lost(deal=deal, reason=lost_reason(), actor=rep)
    reopened = services.deal_reopen(deal=deal.pk, actor=rep)
    assert reopened.forecast_category == ForecastCategory.PIPELINE


def test_a_won_deal_moved_back_to_an_open_stage_counts_in_the_pipeline_again(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=1000, expected_close=date(2026, 12, 31))
    services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    back = services.deal_move(deal=deal.pk, to_stage=stages["Negotiation"], actor=rep)
    back.refresh_from_db()
    assert back.status == DealStatus.OPEN and back.forecast_category == ForecastCategory.PIPELINE


def test_a_move_between_open_stages_leaves_the_forecast_fields_alone(rep, stages):
    deal = DealFactory(
        owner=rep, stage=stages["Offer"], amount=1000, expected_close=date(2026, 12, 31), next_step="Call",
        forecast_category=ForecastCategory.BEST_CASE,
    )
    moved = services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    moved.refresh_from_db()
    assert (moved.forecast_category, moved.next_step) == (ForecastCategory.BEST_CASE, "Call")
    assert not DealChange.objects.filter(deal=deal).exists()


def test_a_deal_created_in_the_won_stage_is_closed_won(rep, organization, stages):
    deal = services.deal_create(
        actor=rep, organization=organization, title="Signed", stage=stages["Retention"], amount=10, expected_close=date(2026, 1, 1)
    )
    assert deal.forecast_category == ForecastCategory.CLOSED


def test_closed_won_cannot_be_chosen_for_an_open_deal_nor_left_by_a_won_one(rep, stages):
    open_deal = DealFactory(owner=rep, stage=stages["Offer"], amount=1000, expected_close=date(2026, 12, 31))
    with pytest.raises(PipelineError):
        services.deal_update(deal=open_deal, actor=rep, forecast_category=ForecastCategory.CLOSED)
    assert ForecastCategory.CLOSED not in dict(DealEditForm(user=rep, deal=open_deal).fields["forecast_category"].choices)

    won = services.deal_move(deal=open_deal, to_stage=stages["Retention"], actor=rep)
    with pytest.raises(PipelineError):
        services.deal_update(deal=won, actor=rep, forecast_category=ForecastCategory.COMMIT)
    assert ForecastCategory.CLOSED in dict(DealEditForm(user=rep, deal=won).fields["forecast_category"].choices)


def test_a_field_change_records_the_note_that_says_why(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=1000)
    services.deal_update(deal=deal, actor=None, actor_label="Customer", note="Follows the accepted offer", amount=900)
    assert DealChange.objects.get(deal=deal, field="amount").note == "Follows the accepted offer"
