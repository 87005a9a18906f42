"""Timing from the history, new business, honest ranges, baselines and the history backtest, on
small hand-checked cases and seeded generated histories (no database)."""

from datetime import date
from types import SimpleNamespace

import numpy as np
import pytest

from forecasting import evaluation, outlook, realistic, runrate, timing
from forecasting.baselines import naive_forecasts
from forecasting.history import LOST, OPEN, WON, as_of
from forecasting.periods import MONTH, QUARTER, first_forecast_period, period_of_date
from tests.forecasting.builders import O, R, history

APR = period_of_date(date(2025, 4, 1), MONTH)


def day(value: str, offset: int = 0) -> str:
    return str(np.datetime64(value, "D") + offset)


def offer_deals(n: int, *, start: str, won_after: int | None = None, lost_after: int | None = None, amount=1000.0):
    """`n` deals entering Offer a day apart from `start`, won (or lost) that many days later, or
    never closed."""
    deals = []
    for i in range(n):
        created = day(start, i)
        path = [(created + "T09:00:00", O, OPEN)]
        if won_after is not None:
            path.append((day(created, won_after) + "T09:00:00", R, WON))
        elif lost_after is not None:
            path.append((day(created, lost_after) + "T09:00:00", O, LOST))
        deals.append({"path": path, "amount": amount})
    return deals


# --- The horizon edge ------------------------------------------------------------------------------


def test_a_forecast_made_on_a_periods_last_day_starts_with_the_next_period():
    assert first_forecast_period(date(2025, 3, 31), MONTH) == APR
    assert first_forecast_period(date(2025, 3, 31), QUARTER) == period_of_date(date(2025, 4, 1), QUARTER)
    assert first_forecast_period(date(2025, 4, 1), MONTH) == APR
    assert first_forecast_period(date(2025, 4, 29), MONTH) == APR
    assert first_forecast_period(date(2025, 2, 28), MONTH) == period_of_date(date(2025, 3, 1), MONTH)


# --- The time-to-close model -----------------------------------------------------------------------


def test_chance_of_a_win_by_each_week_follows_wins_and_losses_of_one_cutoff():
    # At the single cutoff (14 days before the end), 10 deals are open in Offer: 4 are won in
    # their first week after it, 4 lost in their second, 2 still open at the end.
    cutoff = "2025-03-17"
    deals = [{"path": [("2025-01-01T09:00:00", O, OPEN), (day(cutoff, 2) + "T09:00:00", R, WON)], "amount": 1.0}] * 4
    deals += [{"path": [("2025-01-01T09:00:00", O, OPEN), (day(cutoff, 9) + "T09:00:00", O, LOST)], "amount": 1.0}] * 4
    deals += [{"path": [("2025-01-01T09:00:00", O, OPEN)], "amount": 1.0}] * 2
    h = history(deals)
    model = timing.fit_timing(h, np.datetime64("2025-03-31T00:00:00"), max_cutoffs=1)
    group = timing.group_index(O, timing.age_bucket(75.0), timing.NO_DATE, 6)
    # Week 1: 4 of 10 won; week 2: 4 lost of the 6 left, the 2 open ones at risk for half of it.
    assert model.deal_cif[group, 1] == pytest.approx(0.4)
    assert model.deal_cif[group, -1] == pytest.approx(0.4)
    assert model.at_risk[group] == 10


def test_thin_groups_take_their_parents_hazard_and_rich_ones_keep_their_own():
    k = 2
    shape = (k, timing.N_AGES, timing.N_DUES, timing.N_BINS)
    wins, losses, at_risk = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    # Stage 0, youngest deals with no date: 1,000 at risk each week, 10 % won.
    at_risk[0, 0, 0] = 1000.0
    wins[0, 0, 0] = 100.0
    hw, _ = timing._shrunk_hazards(wins.reshape(-1, timing.N_BINS), losses.reshape(-1, timing.N_BINS),
                                   at_risk.reshape(-1, timing.N_BINS), k)  # fmt: skip
    hw = hw.reshape(shape)
    rich = hw[0, 0, 0, 0]
    assert rich == pytest.approx(0.1, abs=0.003)
    # No observation at all: the stage-and-age group's value, itself its stage's.
    assert hw[0, 0, 3, 0] == pytest.approx(hw[0, 0, 0, 0], rel=0.05)
    assert hw[0, 4, 1, 0] == pytest.approx(0.1, rel=0.05)
    # Another stage without data: the whole pipeline's rate.
    assert hw[1, 2, 2, 0] == pytest.approx(0.1, rel=0.05)


def test_a_stale_deal_counts_for_little_beside_a_fresh_one():
    # Deals in Offer are won within two weeks; those that are not go stale and never close.
    deals = offer_deals(60, start="2024-09-01", won_after=8) + offer_deals(40, start="2024-09-01")
    deals += offer_deals(2, start="2025-03-25")  # fresh ones
    h = history(deals)
    end = np.datetime64("2025-03-31T23:59:59")
    model = timing.fit_timing(h, end)
    book = as_of(h, end)
    p = timing.win_probability(model, book)
    stale, fresh = p[60], p[-1]
    assert fresh > 0.3
    assert stale < fresh / 5


def test_overdue_deals_spread_their_chance_over_the_periods_ahead():
    # Deals with an expected close that passed were won 20 to 80 days after it.
    deals = []
    for i, late in enumerate(range(20, 80, 2)):
        created = day("2024-06-01", 3 * i)
        deals.append(
            {
                "path": [(created + "T09:00:00", O, OPEN), (day(created, 10 + late) + "T09:00:00", R, WON)],
                "amount": 1000.0,
                "close": day(created, 10),
            }
        )
    deals.append({"path": [("2025-03-01T09:00:00", O, OPEN)], "amount": 1000.0, "close": "2025-03-10"})
    h = history(deals)
    book = as_of(h, date(2025, 3, 31))
    parts = outlook.Parts(h, book, kind=MONTH, first_period=APR, horizon=3, new_business=False)
    chances = parts.landing[-1]
    assert (chances > 0.05).sum() >= 2  # more than one period, not the one that is over
    assert chances.sum() <= 1.0
    learned = outlook.learned_outlook(h, book, kind=MONTH, first_period=APR, horizon=3, parts=parts)
    assert learned.expected[0].sum() == pytest.approx(1000.0 * chances.sum())


def test_without_closed_deals_the_forecast_uses_the_stage_probability_and_the_reps_date():
    h = history([{"path": [("2025-03-01T09:00:00", O, OPEN)], "amount": 1000.0, "close": "2025-05-10"}])
    book = as_of(h, date(2025, 3, 31))
    result = outlook.learned_outlook(h, book, kind=MONTH, first_period=APR, horizon=2, new_business=False)
    assert result.expected[0].tolist() == pytest.approx([0.0, 600.0])  # Offer 60 %, due in May
    assert result.deal_probability[0] == pytest.approx(0.6)


# --- New business not yet in the pipeline ------------------------------------------------------------


def monthly_quick_wins(amounts: dict[str, float]):
    """One deal a month created on the 5th and won on the 12th, of the given amount."""
    return [
        {"path": [(f"{m}-05T09:00:00", O, OPEN), (f"{m}-12T09:00:00", R, WON)], "amount": a}
        for m, a in amounts.items()
    ]


def test_new_business_is_the_recent_level_of_deals_created_and_won_after_each_period_end():
    months = [f"2024-{m:02d}" for m in range(4, 13)] + ["2025-01", "2025-02", "2025-03"]
    h = history(monthly_quick_wins({m: 1000.0 for m in months}) + offer_deals(3, start="2025-03-20"))
    book = as_of(h, date(2025, 3, 31))
    cur = np.zeros(len(book), np.int64)
    rate = runrate.fit_runrate(h, book, kind=MONTH, first_period=APR, horizon=2, currencies=["EUR"], currency=cur)
    # Each month 1,000 came from a deal created after the month before ended (so also in May, from
    # a deal created in May), but nothing from the deals already open on 31 March.
    assert rate.expected[0].tolist() == pytest.approx([1000.0, 1000.0])
    assert rate.spread[0, 0] == pytest.approx(runrate.MIN_SPREAD)


def test_new_business_is_the_level_of_the_last_year_of_months_and_of_six_quarters():
    # Months: half a year at 500, then half a year at 1,500: the level of a year is 1,000.
    months = {f"2024-{m:02d}": 500.0 for m in range(4, 10)}
    later = ((2024, 10), (2024, 11), (2024, 12), (2025, 1), (2025, 2), (2025, 3))
    months.update({f"{y}-{m:02d}": 1500.0 for y, m in later})
    h = history(monthly_quick_wins(months))
    book = as_of(h, date(2025, 3, 31))
    cur = np.zeros(len(book), np.int64)
    rate = runrate.fit_runrate(h, book, kind=MONTH, first_period=APR, horizon=1, currencies=["EUR"], currency=cur)
    assert rate.expected[0, 0] == pytest.approx(1000.0)
    # Quarters: two at 3 × 5,000, then six at 3 × 1,000: the level of the last six is 3,000.
    quarters = {}
    for year in (2023, 2024):
        for m in range(1, 13):
            quarters[f"{year}-{m:02d}"] = 5000.0 if (year, m) < (2023, 7) else 1000.0
    h = history(monthly_quick_wins(quarters))
    book = as_of(h, date(2024, 12, 31))
    cur = np.zeros(len(book), np.int64)
    first = period_of_date(date(2025, 1, 1), QUARTER)
    rate = runrate.fit_runrate(h, book, kind=QUARTER, first_period=first, horizon=1, currencies=["EUR"], currency=cur)
    assert rate.expected[0, 0] == pytest.approx(3000.0)


def test_new_business_follows_the_month_of_the_quarter():
    amounts = {}
    for year, months in ((2024, range(1, 13)), (2025, range(1, 4))):
        for m in months:
            amounts[f"{year}-{m:02d}"] = 3000.0 if m % 3 == 1 else 1000.0  # first months of quarters
    h = history(monthly_quick_wins(amounts))
    book = as_of(h, date(2025, 3, 31))
    cur = np.zeros(len(book), np.int64)
    rate = runrate.fit_runrate(h, book, kind=MONTH, first_period=APR, horizon=3, currencies=["EUR"], currency=cur)
    april, may = rate.expected[0, 0], rate.expected[0, 1]
    assert april > 2 * may  # not the mean of 1,667 for every month
    assert april == pytest.approx(3000.0, rel=0.2)


def test_a_forecast_made_inside_a_period_expects_only_the_rest_of_its_new_business():
    months = [f"2024-{m:02d}" for m in range(4, 13)] + ["2025-01", "2025-02", "2025-03"]
    h = history(monthly_quick_wins({m: 1000.0 for m in months}))
    book = as_of(h, date(2025, 4, 15))
    cur = np.zeros(len(book), np.int64)
    rate = runrate.fit_runrate(h, book, kind=MONTH, first_period=APR, horizon=1, currencies=["EUR"], currency=cur)
    assert rate.expected[0, 0] == pytest.approx(1000.0 * 15 / 30)


# --- Honest ranges -------------------------------------------------------------------------------------


def fake_parts(amount, landing):
    n = len(amount)
    return SimpleNamespace(
        amount=np.asarray(amount, float), landing=np.asarray(landing, float), cur=np.zeros(n, np.int64)
    )


def test_simulated_deals_are_won_at_their_chances_in_their_period():
    parts = fake_parts([1000.0] * 200, [[0.3, 0.1]] * 200)
    rng = np.random.default_rng(1)
    sims = outlook._simulate_pipeline(parts, np.ones(4000), rng, 1, 2)
    assert sims[:, 0, 0].mean() == pytest.approx(200 * 1000 * 0.3, rel=0.01)
    assert sims[:, 0, 1].mean() == pytest.approx(200 * 1000 * 0.1, rel=0.02)
    # Independent deals: the variance of a sum of Bernoulli amounts.
    assert sims[:, 0, 0].std() == pytest.approx(1000 * np.sqrt(200 * 0.3 * 0.7), rel=0.05)


def test_a_shared_shock_widens_the_range_and_keeps_the_mean():
    parts = fake_parts([1000.0] * 200, [[0.3]] * 200)
    sigma = 0.3
    rng = np.random.default_rng(2)
    factor = np.exp(sigma * rng.standard_normal(4000) - sigma**2 / 2)
    shocked = outlook._simulate_pipeline(parts, factor, rng, 1, 1)[:, 0, 0]
    alone = outlook._simulate_pipeline(parts, np.ones(4000), rng, 1, 1)[:, 0, 0]
    assert shocked.mean() == pytest.approx(alone.mean(), rel=0.02)
    assert shocked.std() > 2 * alone.std()


def test_large_pipelines_are_simulated_on_sums_with_the_same_mean_and_spread(monkeypatch):
    parts = fake_parts(np.linspace(100, 3000, 300), [[0.2, 0.1]] * 300)
    exact = outlook._simulate_pipeline(parts, np.ones(6000), np.random.default_rng(3), 1, 2)
    monkeypatch.setattr(outlook, "EXACT_MAX_DEALS", 10)
    sums = outlook._simulate_pipeline(parts, np.ones(6000), np.random.default_rng(3), 1, 2)
    assert sums.mean(axis=0) == pytest.approx(exact.mean(axis=0), rel=0.02)
    assert sums.std(axis=0) == pytest.approx(exact.std(axis=0), rel=0.06)


def test_the_monte_carlo_is_seeded_and_shows_new_business_as_its_own_line():
    real = realistic.generate(seed=3, months=10, deals_per_month=120)
    book = as_of(real.history, date(2025, 9, 30))
    first = period_of_date(date(2025, 10, 1), MONTH)
    kw = {"kind": MONTH, "first_period": first, "horizon": 2, "simulations": 400, "seed": 9}
    a = outlook.montecarlo_outlook(real.history, book, **kw)
    b = outlook.montecarlo_outlook(real.history, book, **kw)
    assert a.rows() == b.rows()
    new = a.extra["new_business"]
    assert new.shape == (1, 2) and new[0, 0] > 0
    assert a.expected[0, 0] == pytest.approx(a.extra["pipeline"][0, 0] + new[0, 0], rel=0.05)
    assert (a.p10 <= a.p50).all() and (a.p50 <= a.p90).all()


# --- Baselines and the backtest on a history ------------------------------------------------------------


def test_naive_baselines_use_only_the_periods_before_the_target():
    actuals = np.arange(1.0, 16.0) * 100  # periods 0..14 won 100, 200, …, 1,500
    at_13 = naive_forecasts(actuals, first=0, target=13, kind=MONTH)
    assert at_13 == {"last period": 1300.0, "mean of last 3": 1200.0, "same period a year ago": 200.0}
    early = naive_forecasts(actuals, first=0, target=2, kind=MONTH)
    assert early["last period"] == 200.0
    assert np.isnan(early["mean of last 3"]) and np.isnan(early["same period a year ago"])
    assert naive_forecasts(actuals, first=0, target=5, kind=QUARTER)["same period a year ago"] == 200.0


@pytest.fixture(scope="module")
def scored():
    real = realistic.generate(seed=5, months=12, deals_per_month=150)
    return real, evaluation.evaluate(real.history, warmup=6, simulations=300, end=real.end)


def test_the_history_backtest_scores_each_month_after_the_warmup_against_what_was_won(scored):
    real, result = scored
    assert [row["period"] for row in result.periods] == [f"2025-{m:02d}" for m in range(7, 13)]
    final = as_of(real.history, real.end)
    won = final.status == WON
    month = final.status_since.astype("datetime64[M]")
    for row in result.periods:
        assert row["actual"] == pytest.approx(final.amount[won & (month == np.datetime64(row["period"]))].sum())


def test_the_history_backtest_metrics_and_baselines_are_those_of_its_periods(scored):
    _, result = scored
    rows = result.periods
    actual = np.array([r["actual"] for r in rows])
    for name in evaluation.METHODS:
        f = np.array([r[name][0] for r in rows])
        lo, hi = np.array([r[name][1] for r in rows]), np.array([r[name][2] for r in rows])
        score = result.score(name)
        assert score.wape == pytest.approx(np.abs(f - actual).sum() / actual.sum())
        assert score.bias == pytest.approx((f - actual).sum() / actual.sum())
        assert score.coverage == pytest.approx(np.mean((actual >= lo) & (actual <= hi)))
        assert 0 <= score.brier <= 1
    for previous, row in zip(rows, rows[1:]):
        assert row["last period"] == previous["actual"]
    assert result.score("same period a year ago").periods == 0


def test_the_history_backtest_is_deterministic():
    real = realistic.generate(seed=6, months=9, deals_per_month=100)
    a = evaluation.evaluate(real.history, warmup=6, simulations=200, end=real.end)
    b = evaluation.evaluate(real.history, warmup=6, simulations=200, end=real.end)
    assert repr(a.periods) == repr(b.periods)  # NaN (no year-ago value) is not equal to itself


# --- The real-shaped generator -------------------------------------------------------------------------


def test_real_shaped_histories_look_like_a_crm_export():
    real = realistic.generate(seed=4, months=15)
    h = real.history
    assert 3000 < h.n_deals < 8000  # several thousand over a little more than a year
    assert np.isnat(h.expected_close).all() and not h.changes
    rows = np.bincount(h.sc_deal, minlength=h.n_deals)
    assert rows.max() == 2  # created, and closed if it did
    final = as_of(h, real.end)
    created_month = h.created_at[final.index].astype("datetime64[M]")
    closed_month = final.status_since.astype("datetime64[M]")
    won = final.status == WON
    assert (won & (created_month == closed_month)).sum() > 0.3 * won.sum()
    age = (real.end - h.created_at[final.index]).astype("timedelta64[D]").astype(int)
    assert ((final.status == OPEN) & (age > 180)).sum() > 50  # stale deals
    per_month = np.bincount((h.created_at.astype("datetime64[M]") - real.start.astype("datetime64[M]")).astype(int))
    first_of_quarter, last_of_quarter = per_month[0::3][:5].sum(), per_month[2::3][:5].sum()
    assert first_of_quarter > 1.2 * last_of_quarter
    assert set(real.owner_names) >= {"Anna Becker"} and all(" " in n for n in real.owner_names)
    again = realistic.generate(seed=4, months=15).history
    assert np.array_equal(again.amount, h.amount) and np.array_equal(again.sc_at, h.sc_at)


def test_real_shaped_histories_round_trip_through_the_import_files(tmp_path):
    real = realistic.generate(seed=4, months=3, deals_per_month=20)
    realistic.write_csv(real, tmp_path / "deals.csv", tmp_path / "events.csv")
    lines = (tmp_path / "deals.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == real.history.n_deals + 1
    assert lines[0].startswith("external_id,title,lead,owner,amount")
    events = (tmp_path / "events.csv").read_text(encoding="utf-8").splitlines()
    assert events[0] == "external_id,at,field,old,new" and len(events) == real.history.n_deals + 1
