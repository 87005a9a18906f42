"""As-of reconstruction from StageChange and DealChange: a forecast as of T sees nothing after T."""

from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import numpy as np
import pytest
import time_machine

from forecasting import periods, runs, sums
from forecasting.history import LOST, OPEN, WON, as_of
from forecasting.loading import load_history
from pipeline import services as pipeline_services
from tests.factories import OrganizationFactory, lost_reason

pytestmark = pytest.mark.django_db


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt_timezone.utc)


def make(rep, stages, *, day, stage="Prospecting", amount="1000", close=None, **kw):
    return pipeline_services.deal_create(
        actor=rep,
        organization=OrganizationFactory(),
        title="Deal",
        stage=stages[stage],
        amount=amount,
        at=at(day),
        expected_close=date.fromisoformat(close) if close else None,
        **kw,
    )


@pytest.fixture
def past(rep, stages, pipeline):
    """Two deals with a history up to 2025-03-31."""
    a = make(rep, stages, day="2025-01-06", amount="20000", close="2025-03-31", external_id="A")
    pipeline_services.deal_move(deal=a, to_stage=stages["Qualification"], actor=rep, at=at("2025-01-20"))
    pipeline_services.deal_move(deal=a, to_stage=stages["Offer"], actor=rep, at=at("2025-02-10"))
    pipeline_services.deal_update(
        deal=a, actor=rep, at=at("2025-02-10", 11), amount="24000", expected_close=date(2025, 4, 30)
    )
    b = make(rep, stages, day="2025-02-03", amount="18500", close="2025-05-15", external_id="B")
    return a, b


def test_state_as_of_each_date_comes_from_the_history(past, rep, stages):
    a, b = past
    # After the checkpoint: A wins, B is lost, A's amount had changed once more before.
    pipeline_services.deal_update(deal=a, actor=rep, at=at("2025-04-02"), amount="30000")
    pipeline_services.deal_move(deal=a, to_stage=stages["Retention"], actor=rep, at=at("2025-04-11"))
    pipeline_services.deal_mark_lost(deal=b, reason=lost_reason(), actor=rep, at=at("2025-04-20"))
    h = load_history(pipeline_id=a.pipeline_id)
    idx = {eid: i for i, eid in enumerate(h.external_id)}

    jan = as_of(h, date(2025, 1, 31))
    assert list(jan.external_id) == ["A"]  # B did not exist yet
    assert jan.stage[0] == 1 and jan.status[0] == OPEN
    assert jan.amount[0] == 20000 and jan.expected_close[0] == np.datetime64("2025-03-31")

    mar = as_of(h, date(2025, 3, 31))
    a_, b_ = (list(mar.index).index(idx[e]) for e in ("A", "B"))
    assert (mar.stage[a_], mar.status[a_], mar.amount[a_]) == (3, OPEN, 24000)
    assert mar.expected_close[a_] == np.datetime64("2025-04-30")
    assert (mar.stage[b_], mar.status[b_], mar.amount[b_]) == (0, OPEN, 18500)

    apr = as_of(h, date(2025, 4, 30))
    a_, b_ = (list(apr.index).index(idx[e]) for e in ("A", "B"))
    assert (apr.stage[a_], apr.status[a_], apr.amount[a_]) == (5, WON, 30000)
    assert apr.status[b_] == LOST


def test_the_end_of_the_as_of_day_is_included(past, rep, stages):
    a, _ = past
    h = load_history(pipeline_id=a.pipeline_id)
    assert as_of(h, date(2025, 2, 9)).stage[0] == 1
    assert as_of(h, date(2025, 2, 10)).stage[0] == 3


@pytest.mark.parametrize("method", ["weighted", "learned", "montecarlo"])
def test_no_future_data_leaks_into_a_forecast(past, rep, stages, method):
    a, b = past
    closed = make(rep, stages, day="2025-01-02", amount="5000", close="2025-02-28", stage="Negotiation")
    pipeline_services.deal_move(deal=closed, to_stage=stages["Retention"], actor=rep, at=at("2025-02-20"))

    def run():
        result = runs.forecast_run(
            as_of=date(2025, 3, 31),
            method=method,
            kind="month",
            horizon=3,
            pipeline_id=a.pipeline_id,
            simulations=500,
            seed=4,
        )
        return result.result.rows(), result.result.deal_probability.tolist(), list(result.book.external_id)

    before = run()
    # Everything that happens from April on: moves, wins, losses, changed amounts and dates, new deals.
    pipeline_services.deal_update(
        deal=a, actor=rep, at=at("2025-04-01"), amount="99000", expected_close=date(2025, 6, 30), probability=95
    )
    pipeline_services.deal_move(deal=a, to_stage=stages["Retention"], actor=rep, at=at("2025-04-03"))
    pipeline_services.deal_move(deal=b, to_stage=stages["Negotiation"], actor=rep, at=at("2025-04-04"))
    pipeline_services.deal_mark_lost(deal=b, reason=lost_reason(), actor=rep, at=at("2025-04-05"))
    for _ in range(3):
        late = make(rep, stages, day="2025-04-02", amount="7000", close="2025-04-30", stage="Offer")
        pipeline_services.deal_move(deal=late, to_stage=stages["Retention"], actor=rep, at=at("2025-04-20"))
    after = run()
    assert after == before


# Not a period's last day: from then on a forecast looks at the next period.
@time_machine.travel(datetime(2025, 6, 12, 9, tzinfo=dt_timezone.utc), tick=False)
def test_the_database_sums_agree_with_the_reconstruction_for_today(rep, stages, pipeline):
    today = date.today()
    for stage, amount, prob in (
        ("Offer", "1000", None),
        ("Meeting & demo", "2500.50", 70),
        ("Prospecting", "300", None),
    ):
        make(rep, stages, day=str(today), stage=stage, amount=amount, close=str(today), probability=prob)
    make(rep, stages, day=str(today), stage="Offer", amount="800", close=str(today), currency="USD")
    by_period = sums.period_sums(
        deals=pipeline.deals.all(), kind="month", first_period=periods.period_of_date(today, "month"), horizon=1
    )
    start = today.replace(day=1)
    assert (
        by_period[("EUR", start)]["weighted"] == Decimal("1000") * Decimal("0.6") + Decimal("2500.50") * Decimal("0.7") + 30
    )
    assert by_period[("USD", start)]["weighted"] == Decimal("480")
    run = runs.forecast_run(as_of=today, method="weighted", kind="month", horizon=1, pipeline_id=pipeline.pk)
    rows = {r["currency"]: r["expected"] for r in run.result.rows()}
    assert rows == {"EUR": Decimal("2380.35"), "USD": Decimal("480.00")}
