"""The forecasting methods on small hand-checked histories (no database)."""

from datetime import date

import numpy as np
import pytest

from forecasting import methods
from forecasting.history import LOST, OPEN, WON, as_of
from forecasting.periods import MONTH, QUARTER, period_label, period_of_date
from tests.forecasting.builders import M, N, O, P, Q, R, history, lost_path, won_path

JAN = period_of_date(date(2025, 1, 1), MONTH)


def rows_by_period(result):
    return {(r["period"], r["currency"]): r for r in result.rows()}


def one_open_deal(stage=Q, **extra):
    return history([{"path": [("2025-01-10T09:00:00", stage, OPEN)], "amount": 1000.0, "close": "2025-02-15", **extra}])


# --- weighted -----------------------------------------------------------------------------------


def test_weighted_uses_stage_probability_per_close_period():
    h = one_open_deal()
    book = as_of(h, date(2025, 1, 31))
    rows = rows_by_period(methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=2))
    assert rows[("2025-01", "EUR")]["expected"] == 0
    assert rows[("2025-02", "EUR")]["expected"] == 200  # 1,000 × 20 %


def test_weighted_prefers_the_deals_own_probability_and_learned_ignores_it():
    h = one_open_deal(probability=0.9)
    book = as_of(h, date(2025, 1, 31))
    weighted = rows_by_period(methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=2))
    model = methods.fit_learned(h, date(2025, 1, 31))
    learned = rows_by_period(methods.learned(model, book, kind=MONTH, first_period=JAN, horizon=2))
    assert weighted[("2025-02", "EUR")]["expected"] == 900
    assert learned[("2025-02", "EUR")]["expected"] == 200


def test_overdue_deals_count_in_the_first_period_and_undated_ones_nowhere():
    h = history(
        [
            {"path": [("2024-10-01T09:00:00", O, OPEN)], "amount": 1000.0, "close": "2024-11-30"},
            {"path": [("2024-10-01T09:00:00", O, OPEN)], "amount": 5000.0},
        ]
    )
    book = as_of(h, date(2025, 1, 15))
    rows = rows_by_period(methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=3))
    assert rows[("2025-01", "EUR")]["expected"] == 600
    assert sum(r["expected"] for r in rows.values()) == 600


def test_won_deals_of_the_period_count_as_won_and_lost_ones_not_at_all():
    h = history(
        [
            {"path": won_path("2024-12-01", won_day="2025-01-20"), "amount": 3000.0, "close": "2025-01-31"},
            {"path": lost_path("2024-12-01", lost_day="2025-01-21"), "amount": 9000.0, "close": "2025-01-31"},
        ]
    )
    book = as_of(h, date(2025, 1, 31))
    row = rows_by_period(methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=1))[("2025-01", "EUR")]
    assert (row["won"], row["expected"], row["p10"], row["p90"]) == (3000, 3000, 3000, 3000)


def test_mixed_currencies_are_never_added_together():
    h = history(
        [
            {"path": [("2025-01-02T09:00:00", O, OPEN)], "amount": 1000.0, "close": "2025-02-10", "currency": "EUR"},
            {"path": [("2025-01-02T09:00:00", O, OPEN)], "amount": 2000.0, "close": "2025-02-10", "currency": "USD"},
        ]
    )
    book = as_of(h, date(2025, 1, 31))
    model = methods.fit_learned(h, date(2025, 1, 31))
    for result in (
        methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=2),
        methods.learned(model, book, kind=MONTH, first_period=JAN, horizon=2),
        methods.montecarlo(model, book, kind=MONTH, first_period=JAN, horizon=2, simulations=400),
    ):
        rows = rows_by_period(result)
        assert set(rows) == {(m, c) for m in ("2025-01", "2025-02") for c in ("EUR", "USD")}
        assert rows[("2025-02", "EUR")]["p90"] <= 1000
        assert rows[("2025-02", "USD")]["p90"] <= 2000
    weighted = rows_by_period(methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=2))
    assert weighted[("2025-02", "EUR")]["expected"] == 600
    assert weighted[("2025-02", "USD")]["expected"] == 1200


def test_independent_range_of_weighted_is_the_normal_approximation_within_what_is_possible():
    deals = [{"path": [("2025-01-02T09:00:00", M, OPEN)], "amount": 1000.0, "close": "2025-02-10"} for _ in range(4)]
    h = history(deals)  # p = 0.4 each: sd = 1000 × √(4 × 0.24)
    book = as_of(h, date(2025, 1, 31))
    result = methods.weighted(h, book, kind=MONTH, first_period=JAN, horizon=2)
    sd = 1000 * np.sqrt(4 * 0.24)
    assert result.p90[0, 1] == pytest.approx(1600 + methods.Z90 * sd)
    assert result.p10[0, 1] == pytest.approx(1600 - methods.Z90 * sd)
    one = history(deals[:1])
    single = methods.weighted(one, as_of(one, date(2025, 1, 31)), kind=MONTH, first_period=JAN, horizon=2)
    assert (single.p10[0, 1], single.p90[0, 1]) == (0, 1000)  # never below nothing, never above everything


# --- learned ------------------------------------------------------------------------------------


def test_learned_without_history_is_the_configured_probability():
    h = one_open_deal()
    model = methods.fit_learned(h, date(2025, 1, 31))
    assert model.probability == pytest.approx([0.1, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert np.isnan(model.markov[:5]).all()
    assert model.closed_deals.sum() == 0


def test_a_single_won_deal_moves_each_stage_a_little_towards_one():
    h = history([{"path": won_path("2024-11-04"), "amount": 1000.0, "close": "2024-12-31"}])
    model = methods.fit_learned(h, date(2025, 1, 31), prior_strength=12)
    assert model.markov[:5] == pytest.approx([1, 1, 1, 1, 1])
    assert model.closed_deals[:5] == pytest.approx([1, 1, 1, 1, 1])
    # (1 closed deal × 100 % + 12 pseudo-deals × configured) / 13
    assert model.probability[:5] == pytest.approx([(1 + 12 * c) / 13 for c in (0.1, 0.2, 0.4, 0.6, 0.8)])


def test_skipped_and_backward_moves_count_in_the_markov_chain():
    h = history(
        [
            # A skips Qualification: Prospecting → Meeting & demo → won.
            {"path": won_path("2024-10-01", stages=(P, M)), "amount": 1000.0, "close": "2024-12-31"},
            # B goes back: Prospecting → Qualification → Prospecting → lost.
            {"path": lost_path("2024-10-01", stages=(P, Q, P)), "amount": 1000.0, "close": "2024-12-31"},
        ]
    )
    model = methods.fit_learned(h, date(2025, 1, 31), prior_strength=12)
    # From P: ⅓ to M (then won), ⅓ to Q (and back to P), ⅓ lost: b_P = ⅓ + ⅓·b_P → ½.
    assert model.markov[P] == pytest.approx(0.5)
    assert model.markov[Q] == pytest.approx(0.5)
    assert model.markov[M] == pytest.approx(1.0)
    assert np.isnan(model.markov[O]) and np.isnan(model.markov[N])
    assert model.transitions[P, M] == 1 and model.transitions[Q, P] == 1 and model.transitions[P, 7] == 1
    assert model.closed_deals[[P, Q, M, O]] == pytest.approx([2, 1, 1, 0])
    assert model.probability[P] == pytest.approx((2 * 0.5 + 12 * 0.1) / 14)
    assert model.probability[Q] == pytest.approx((1 * 0.5 + 12 * 0.2) / 13)
    assert model.probability[O] == pytest.approx(0.6)


def test_a_reopened_loss_and_a_won_deal_moved_back_are_not_counted_as_closes():
    h = history(
        [
            {
                "path": [
                    ("2024-10-01T10:00:00", P, OPEN),
                    ("2024-10-05T10:00:00", P, LOST),
                    ("2024-10-07T10:00:00", P, OPEN),
                    ("2024-10-10T10:00:00", Q, OPEN),
                    ("2024-10-20T10:00:00", R, WON),
                ],
                "amount": 1.0,
            },
            {
                "path": [
                    ("2024-10-01T10:00:00", N, OPEN),
                    ("2024-10-05T10:00:00", R, WON),
                    ("2024-10-06T10:00:00", N, OPEN),
                    ("2024-10-09T10:00:00", N, LOST),
                ],
                "amount": 1.0,
            },
        ]
    )
    model = methods.fit_learned(h, date(2025, 1, 31))
    assert model.transitions[P, 7] == 0 and model.transitions[P, Q] == 1 and model.transitions[Q, 6] == 1
    assert model.transitions[N, 6] == 0 and model.transitions[N, 7] == 1
    assert model.markov[P] == 1.0 and model.markov[N] == 0.0


def test_learning_sees_nothing_after_the_as_of_date():
    h = history([{"path": won_path("2024-11-04", won_day="2025-02-10"), "amount": 1.0}])
    before = methods.fit_learned(h, date(2025, 1, 31))
    after = methods.fit_learned(h, date(2025, 2, 28))
    assert before.closed_deals.sum() == 0 and before.probability[O] == pytest.approx(0.6)
    assert after.closed_deals[O] == 1 and after.probability[O] > 0.6


# --- Monte Carlo ----------------------------------------------------------------------------------


def test_montecarlo_of_one_deal_is_all_or_nothing_with_the_learned_chance():
    h = one_open_deal()
    book = as_of(h, date(2025, 1, 31))
    model = methods.fit_learned(h, date(2025, 1, 31))
    result = methods.montecarlo(
        model, book, kind=MONTH, first_period=JAN, horizon=2, simulations=4000, seed=1, quota={"EUR": 1000}
    )
    assert (result.p10[0, 1], result.p50[0, 1], result.p90[0, 1]) == (0, 0, 1000)  # wins 20 % of the time
    assert result.expected[0, 1] == pytest.approx(200, abs=25)
    assert result.quota_chance[0, 1] == pytest.approx(0.2, abs=0.025)
    assert result.quota_chance[0, 0] == 0
    assert result.rows()[1]["quota_chance"] == pytest.approx(0.2, abs=0.025)


def test_montecarlo_is_reproducible_with_a_seed():
    h = one_open_deal()
    book = as_of(h, date(2025, 1, 31))
    model = methods.fit_learned(h, date(2025, 1, 31))
    a = methods.montecarlo(model, book, kind=MONTH, first_period=JAN, horizon=2, simulations=300, seed=5)
    b = methods.montecarlo(model, book, kind=MONTH, first_period=JAN, horizon=2, simulations=300, seed=5)
    assert a.rows() == b.rows()


def test_the_shared_shock_widens_the_range_but_keeps_the_mean():
    deals = [{"path": [("2025-01-02T09:00:00", O, OPEN)], "amount": 1.0, "close": "2025-02-10"} for _ in range(200)]
    h = history(deals)
    book = as_of(h, date(2025, 1, 31))
    model = methods.fit_learned(h, date(2025, 1, 31))
    kw = dict(kind=MONTH, first_period=JAN, horizon=2, simulations=4000, seed=3)
    alone = methods.montecarlo(model, book, correlation=1e-9, **kw)
    together = methods.montecarlo(model, book, correlation=0.4, **kw)
    def width(r):
        return r.p90[0, 1] - r.p10[0, 1]

    assert alone.expected[0, 1] == pytest.approx(120, abs=2)
    assert together.expected[0, 1] == pytest.approx(120, abs=4)
    assert width(alone) == pytest.approx(2 * methods.Z90 * np.sqrt(200 * 0.24), abs=3)
    assert width(together) > 2.5 * width(alone)


def test_montecarlo_moves_close_dates_by_the_historical_slip():
    # 20 won deals, each won 40 days after the close date their rep had entered.
    won = [
        {"path": won_path("2024-06-03", stages=(P, O), won_day="2024-08-10"), "amount": 1.0, "close": "2024-07-01"}
        for _ in range(20)
    ]
    h = history(won + [{"path": [("2025-05-02T09:00:00", P, OPEN)], "amount": 1000.0, "close": "2025-06-05"}])
    model = methods.fit_learned(h, date(2025, 5, 31))
    assert model.pooled_slips == pytest.approx(np.full(40, 40.0))
    book = as_of(h, date(2025, 5, 31))
    may = period_of_date(date(2025, 5, 1), MONTH)
    result = methods.montecarlo(model, book, kind=MONTH, first_period=may, horizon=3, simulations=1000)
    assert result.expected[0, 1] == 0  # nothing in June
    assert result.expected[0, 2] > 0  # it lands in July (2025-06-05 + 40 days)
    assert result.period_labels() == ["2025-05", "2025-06", "2025-07"]


def test_montecarlo_block_size_does_not_change_the_totals_shape(monkeypatch):
    monkeypatch.setattr(methods, "BLOCK_CELLS", 7)
    h = history([{"path": [("2025-01-02T09:00:00", O, OPEN)], "amount": 10.0, "close": "2025-02-10"} for _ in range(3)])
    book = as_of(h, date(2025, 1, 31))
    model = methods.fit_learned(h, date(2025, 1, 31))
    result = methods.montecarlo(
        model, book, kind=QUARTER, first_period=period_of_date(date(2025, 1, 1), QUARTER), horizon=1, simulations=101
    )
    assert result.expected.shape == (1, 1)
    assert 0 <= result.p10[0, 0] <= result.p90[0, 0] <= 30


# --- categories and accuracy ---------------------------------------------------------------------


def test_forecast_categories_are_summed_separately():
    h = history(
        [
            {"path": [("2025-01-02T09:00:00", O, OPEN)], "amount": 100.0, "close": "2025-01-20", "category": "commit"},
            {"path": [("2025-01-02T09:00:00", P, OPEN)], "amount": 200.0, "close": "2025-01-20", "category": "commit"},
            {
                "path": [("2025-01-02T09:00:00", Q, OPEN)],
                "amount": 400.0,
                "close": "2025-01-20",
                "category": "best_case",
            },
            {"path": [("2025-01-02T09:00:00", Q, OPEN)], "amount": 800.0, "close": "2025-01-20", "category": "omitted"},
            {"path": [("2025-01-02T09:00:00", Q, OPEN)], "amount": 1600.0, "close": "2025-01-20"},
        ]
    )
    book = as_of(h, date(2025, 1, 10))
    totals = methods.category_totals(book, kind=MONTH, first_period=JAN, horizon=1)
    assert {name: float(r.expected[0, 0]) for name, r in totals.items()} == {
        "commit": 300,
        "best_case": 400,
        "omitted": 800,
        "pipeline": 1600,
    }


def test_accuracy_measures_by_hand():
    forecast, actual = np.array([110.0, 80.0]), np.array([100.0, 100.0])
    assert methods.wape(forecast, actual) == pytest.approx(30 / 200)
    assert methods.bias(forecast, actual) == pytest.approx(-10 / 200)
    assert methods.brier(np.array([0.8, 0.3]), np.array([1.0, 0.0])) == pytest.approx((0.04 + 0.09) / 2)
    table = methods.calibration(np.array([0.05, 0.07, 0.95]), np.array([0.0, 1.0, 1.0]))
    assert table == [
        {"bin": "0.0–0.1", "deals": 2, "predicted": pytest.approx(0.06), "actual": 0.5},
        {"bin": "0.9–1.0", "deals": 1, "predicted": 0.95, "actual": 1.0},
    ]


def test_period_labels():
    assert period_label(period_of_date(date(2025, 5, 31), QUARTER), QUARTER) == "2025-Q2"
    assert period_label(period_of_date(date(2025, 12, 1), MONTH), MONTH) == "2025-12"
