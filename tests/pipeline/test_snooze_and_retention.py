"""Snoozing a rotting warning and recording a won deal's completed onboarding (pipeline services)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from pipeline import selectors, services
from pipeline.exceptions import PipelineError, VersionConflict
from pipeline.models import DealChange, DealStatus
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rotting_deal(rep, stages):
    stage = stages["Qualification"]
    stage.rotting_days = 3
    stage.save()
    return DealFactory(owner=rep, stage=stage, stage_entered_at=timezone.now() - timedelta(days=10))


def test_a_snoozed_deal_is_not_rotting_until_the_date(rotting_deal, rep):
    assert rotting_deal.is_rotting
    until = timezone.localdate() + timedelta(days=5)
    deal = services.deal_snooze_rotting(deal=rotting_deal, actor=rep, until=until, reason="Budget freeze until March")
    assert not deal.is_rotting and deal.is_rotting_snoozed and deal.is_overdue_in_stage
    assert deal.version == 2
    change = DealChange.objects.get(deal=deal, field="rotting_snooze")
    assert change.new_value == f"{until.isoformat()} (Budget freeze until March)" and change.actor == rep
    deal.rotting_snoozed_until = timezone.localdate()
    assert deal.is_rotting  # the snooze ends on its date


@pytest.mark.parametrize("days, reason", [(0, "x"), (-1, "x"), (3, "  ")])
def test_a_snooze_needs_a_future_date_and_a_reason(rotting_deal, rep, days, reason):
    with pytest.raises(PipelineError):
        services.deal_snooze_rotting(
            deal=rotting_deal, actor=rep, until=timezone.localdate() + timedelta(days=days), reason=reason
        )
    rotting_deal.refresh_from_db()
    assert rotting_deal.rotting_snoozed_until is None and rotting_deal.version == 1


def test_a_snooze_checks_the_version_and_can_be_ended(rotting_deal, rep):
    until = timezone.localdate() + timedelta(days=2)
    with pytest.raises(VersionConflict):
        services.deal_snooze_rotting(deal=rotting_deal, actor=rep, until=until, reason="x", expected_version=7)
    services.deal_snooze_rotting(deal=rotting_deal, actor=rep, until=until, reason="x")
    ended = services.deal_snooze_rotting(deal=rotting_deal, actor=rep, until=None)
    assert ended.rotting_snoozed_until is None and ended.rotting_snooze_reason == "" and ended.is_rotting
    assert DealChange.objects.filter(deal=rotting_deal, field="rotting_snooze").count() == 2


def test_completed_onboarding_takes_a_won_deal_off_the_board_and_reopening_clears_it(rep, stages):
    won = DealFactory(
        owner=rep, stage=stages["Retention"], status=DealStatus.WON, closed_at=timezone.now(),
        expected_close=timezone.localdate(),
    )
    def board():
        return set(selectors.board_deals(user=rep, pipeline=won.pipeline).values_list("pk", flat=True))

    assert won.pk in board()
    services.deal_retention_mark(deal=won, done=True)
    assert won.pk not in board()
    moved = services.deal_move(deal=won, to_stage=stages["Negotiation"], actor=rep)
    assert moved.retention_done_at is None and moved.status == DealStatus.OPEN
    assert services.deal_retention_mark(deal=moved, done=True).retention_done_at is None  # only won deals
