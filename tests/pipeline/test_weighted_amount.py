"""A deal's weighted amount has one definition (selectors.weighted_amount_expression): a won deal
counts its full amount, a lost deal nothing, an open deal its amount × (its override or its
stage's probability). The board's columns, the deal page, the exports and the forecast agree."""
import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from pipeline import selectors, services
from pipeline.models import Deal, DealStatus
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def _weighted(deal):
    return Deal.objects.annotate(w=selectors.weighted_amount_expression()).get(pk=deal.pk).w


def test_a_won_deal_with_a_50_percent_override_counts_in_full_in_its_column_and_on_its_page(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("1000.00"), probability=50,
                       expected_close="2026-12-20", next_step="Sign")
    won = services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    assert won.status == DealStatus.WON and won.probability == 50

    totals = selectors.column_totals(selectors.board_deals(user=rep, pipeline=won.pipeline))
    assert [(t.total, t.weighted) for t in totals[stages["Retention"].pk]] == [(Decimal("1000.00"), Decimal("1000.00"))]

    client.force_login(rep)
    page = client.get(won.get_absolute_url()).content.decode()
    assert "<dt>Probability</dt><dd>100 %" in page


@pytest.mark.parametrize(
    "status, override, expected",
    [
        (DealStatus.OPEN, None, Decimal("600.0000")),  # the stage's 60 %
        (DealStatus.OPEN, 25, Decimal("250.0000")),
        (DealStatus.WON, 25, Decimal("1000.0000")),
        (DealStatus.LOST, 25, Decimal("0.0000")),
        (DealStatus.LOST, None, Decimal("0.0000")),
    ],
)
def test_the_expression_and_the_deal_in_memory_agree(rep, stages, status, override, expected):
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000.00"), probability=override)
    reason = None
    if status == DealStatus.LOST:
        reason = services.deal_mark_lost(deal=deal, reason=_a_reason(), actor=rep).lost_reason
    Deal.objects.filter(pk=deal.pk).update(status=status, lost_reason=reason)
    deal = Deal.objects.select_related("stage").get(pk=deal.pk)
    assert _weighted(deal) == expected
    assert Decimal(deal.effective_probability) * deal.amount / 100 == expected
    annotated = Deal.objects.annotate(p=selectors.win_probability_expression()).get(pk=deal.pk)
    assert annotated.p == deal.effective_probability


def _a_reason():
    from pipeline.models import LostReason

    return LostReason.objects.filter(is_active=True).first()


def test_a_deal_without_an_amount_weighs_nothing(rep, stages):
    assert _weighted(DealFactory(owner=rep, stage=stages["Offer"], amount=None)) == 0


def test_the_export_shows_the_probability_and_weighted_amount_of_the_same_rule(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("1000.00"), probability=50,
                       expected_close="2026-12-20", next_step="Sign")
    services.deal_move(deal=deal, to_stage=stages["Retention"], actor=rep)
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("200.00"), probability=None)
    client.force_login(rep)
    body = b"".join(client.get(reverse("exports:board_csv")).streaming_content).decode("utf-8-sig")
    rows = {r["Stage"]: r for r in csv.DictReader(io.StringIO(body))}
    assert (rows["Retention"]["Probability (%)"], rows["Retention"]["Weighted amount"]) == ("100", "1000.00")
    assert (rows["Offer"]["Probability (%)"], rows["Offer"]["Weighted amount"]) == ("60", "120.00")
