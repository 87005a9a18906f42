"""Today's snapshot from GROUP BY sums and a stored fit: the fit kept by the scheduled refit, the
Monte Carlo on sums against the deal-by-deal one, the switch between them and the query count."""

from datetime import date, timedelta

import numpy as np
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from forecasting import methods, montecarlo, services, snapshots, synthetic
from forecasting.history import OPEN, Book
from forecasting.models import ForecastFit, ForecastSnapshot
from forecasting.periods import MONTH, period_of_date
from pipeline.models import Deal, DealStatus
from tests.factories import OrganizationFactory, UserFactory

# --- The Monte Carlo on sums, on small cases checked by hand -------------------------------------------


def _model(probability, *, correlation=0.15, slips=None, pooled=None) -> methods.LearnedModel:
    k = len(probability)
    return methods.LearnedModel(
        as_of=np.datetime64("NaT", "s"),
        probability=np.array(probability, float),
        markov=np.full(k, np.nan),
        closed_deals=np.zeros(k),
        configured=np.array(probability, float),
        transitions=np.zeros((k + 2, k + 2), np.int64),
        prior_strength=12.0,
        correlation=correlation,
        slips=slips or [np.zeros(0) for _ in range(k)],
        pooled_slips=np.zeros(0) if pooled is None else np.asarray(pooled, float),
    )


def test_on_sums_one_stage_without_shock_has_the_binomial_mean_and_spread():
    # 400 deals of 1,000 at p = 0.3, all landing in the period: mean 120,000, variance
    # 400 × 1000² × 0.3 × 0.7; with no shared shock the total is that normal.
    n, a, p = 400, 1000.0, 0.3
    result = methods.montecarlo_aggregate(
        np.array([p]), 1e-9, [n * a], [n * a * a], [n * a * a], simulations=40_000, seed=1
    )
    sd = np.sqrt(n * a * a * p * (1 - p))
    assert result["expected"] == pytest.approx(n * a * p, rel=0.005)
    assert result["p50"] == pytest.approx(n * a * p, rel=0.005)
    assert result["p90"] - result["p50"] == pytest.approx(methods.Z90 * sd, rel=0.03)
    assert result["p50"] - result["p10"] == pytest.approx(methods.Z90 * sd, rel=0.03)


def test_on_sums_adds_what_was_won_and_gives_the_quota_chance():
    result = methods.montecarlo_aggregate(
        np.array([0.5]),
        1e-9,
        [[0.0], [1000.0]],
        [[0.0], [1e6]],
        [[0.0], [1e6]],
        won=np.array([700.0, 0.0]),
        simulations=20_000,
        seed=2,
        quota=np.array([500.0, 500.0]),
    )
    # Nothing open in the first cell: the won amount, certainly above the quota.
    assert result["p10"][0] == result["p90"][0] == 700.0 and result["quota_chance"][0] == 1.0
    # One deal of 1,000 at p = 0.5 (a normal of mean 500, sd 500 here): reached half the time.
    assert result["quota_chance"][1] == pytest.approx(0.5, abs=0.02)


def test_on_sums_the_shared_shock_widens_the_range_but_keeps_the_mean():
    n, a = 2000, 1000.0
    args = (np.array([0.4]), [n * a], [n * a * a], [n * a * a])
    calm = methods.montecarlo_aggregate(args[0], 1e-9, *args[1:], simulations=20_000, seed=3)
    shaken = methods.montecarlo_aggregate(args[0], 0.3, *args[1:], simulations=20_000, seed=3)
    assert shaken["expected"] == pytest.approx(calm["expected"], rel=0.01)
    assert shaken["p90"] - shaken["p10"] > 3 * (calm["p90"] - calm["p10"])


def test_landing_chances_follow_the_slips_and_the_periods():
    as_of = np.datetime64("2026-01-10")
    first = period_of_date(date(2026, 1, 10), MONTH)
    # Without slips a deal lands on its expected day; overdue ones today; late ones beyond.
    still = _model([0.5])
    chance = methods.landing_chances(
        still, [0, 0, 0, 0], [5, -30, 25, 200], as_of_day=as_of, kind=MONTH, first_period=first, horizon=3
    )
    assert chance.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]]
    # Half the won deals closed on time, half 30 days late.
    slipping = _model([0.5], pooled=[0] * 10 + [30] * 10)
    chance = methods.landing_chances(slipping, [0], [5], as_of_day=as_of, kind=MONTH, first_period=first, horizon=3)
    assert chance.tolist() == [[0.5, 0.5, 0.0]]


def test_a_fit_survives_being_stored():
    synth = synthetic.generate(seed=3, months=24, deals_per_month=60)
    model = methods.fit_learned(synth.history, np.datetime64("2024-01-01T00:00:00"))
    stage_ids = synth.history.stage_ids
    back = methods.model_from_parameters(
        methods.model_parameters(model, stage_ids), stage_ids, model.configured, synth.history.stage_is_won
    )
    assert back.probability == pytest.approx(model.probability, abs=1e-6)
    assert back.correlation == pytest.approx(model.correlation, abs=1e-6)
    for mine, theirs in zip(back.slips, model.slips):
        assert sorted(mine) == sorted(np.rint(theirs))
    assert sorted(back.pooled_slips) == sorted(np.rint(model.pooled_slips))


def _book(n: int, seed: int = 5) -> Book:
    rng = np.random.default_rng(seed)
    as_of = np.datetime64("2026-01-10T23:59:59")
    return Book(
        as_of=as_of,
        index=np.arange(n),
        deal_id=np.arange(n),
        external_id=np.full(n, "", dtype=object),
        owner_id=np.ones(n, np.int64),
        stage=rng.integers(0, 5, n),
        status=np.full(n, OPEN, np.int8),
        status_since=np.full(n, as_of),
        amount=np.round(rng.lognormal(np.log(15000), 0.8, n), 2),
        currency=np.full(n, "EUR", dtype=object),
        expected_close=np.datetime64("2026-01-10") + rng.integers(-20, 150, n).astype("timedelta64[D]"),
        probability=np.full(n, np.nan),
        category=np.zeros(n, np.int8),
    )


def test_on_sums_agrees_with_the_deal_by_deal_simulation_on_a_mid_sized_book():
    synth = synthetic.generate(seed=7, months=36, deals_per_month=120)
    model = methods.fit_learned(synth.history, np.datetime64("2026-01-10T23:59:59"))
    book = _book(6000)
    for kind, horizon in snapshots.SNAPSHOT_HORIZONS.items():
        first = period_of_date(date(2026, 1, 10), kind)
        exact = methods.montecarlo(model, book, kind=kind, first_period=first, horizon=horizon, simulations=4000)
        due = (book.expected_close - np.datetime64("2026-01-10")).astype(np.int64)
        q = methods.landing_chances(
            model,
            book.stage,
            due,
            as_of_day=np.datetime64("2026-01-10"),
            kind=kind,
            first_period=first,
            horizon=horizon,
        )
        k = len(model.probability)
        onehot = np.eye(k)[book.stage]  # deals × stages
        a = book.amount
        s1 = q.T @ (onehot * a[:, None])  # periods × stages
        s2 = q.T @ (onehot * (a * a)[:, None])
        s2q = (q * q).T @ (onehot * (a * a)[:, None])
        sums = methods.montecarlo_aggregate(model.probability, model.correlation, s1, s2, s2q, simulations=4000)
        for j in range(horizon):
            assert sums["expected"][j] == pytest.approx(exact.expected[0, j], rel=0.01)
            assert sums["p50"][j] == pytest.approx(exact.p50[0, j], rel=0.03)
            assert sums["p10"][j] == pytest.approx(exact.p10[0, j], rel=0.05)
            assert sums["p90"][j] == pytest.approx(exact.p90[0, j], rel=0.05)


# --- The snapshot service -------------------------------------------------------------------------------


def _deals(pipeline, stages, owners, n: int, *, seed: int = 11) -> None:
    """`n` open deals spread over owners, the open stages and the next five months."""
    rng = np.random.default_rng(seed)
    today = timezone.localdate()
    organization = OrganizationFactory()
    open_stages = [s for s in stages.values() if s.kind == "open"]
    Deal.objects.bulk_create(
        [
            Deal(
                pipeline=pipeline,
                stage=open_stages[int(rng.integers(len(open_stages)))],
                organization=organization,
                title=f"Deal {i}",
                amount=round(float(rng.lognormal(np.log(15000), 0.7)), 2),
                currency="USD" if i % 7 == 0 else "EUR",
                expected_close=today + timedelta(days=int(rng.integers(-15, 150))),
                probability=int(rng.integers(0, 101)) if i % 9 == 0 else None,
                forecast_category=("pipeline", "best_case", "commit", "omitted")[i % 4],
                status=DealStatus.OPEN,
                owner=owners[i % len(owners)],
                stage_entered_at=timezone.now(),
            )
            for i in range(n)
        ],
        batch_size=2000,
    )


def _store_fit(pipeline, stages) -> None:
    """A fit with real slips and correlation (from a synthetic history of the same six stages)."""
    synth = synthetic.generate(seed=7, months=36, deals_per_month=120)
    model = methods.fit_learned(synth.history, np.datetime64("2026-01-10T23:59:59"))
    stage_ids = [s.pk for s in sorted(stages.values(), key=lambda s: (s.position, s.pk))]
    ForecastFit.objects.create(
        pipeline=pipeline, fitted_on=timezone.localdate(), parameters=methods.model_parameters(model, stage_ids)
    )


def _montecarlo_rows(pipeline) -> dict:
    return {
        (r.team_id, r.owner_id, r.period_kind, r.period_start, r.currency): r
        for r in snapshots.latest_snapshots(pipeline_id=pipeline.pk).filter(method="montecarlo", converted=False)
    }


@pytest.mark.django_db
def test_both_simulations_give_close_figures_and_the_threshold_picks_one(pipeline, stages, team, monkeypatch):
    owners = [UserFactory(username=f"rep{i}", team=team if i % 2 else None) for i in range(3)]
    _deals(pipeline, stages, owners, 3000)
    _store_fit(pipeline, stages)
    monkeypatch.setattr(montecarlo, "SNAPSHOT_SIMULATIONS", 4000)
    calls = {"exact": 0, "sums": 0}
    exact, on_sums = montecarlo.simulate_deals, montecarlo.simulate_sums

    def count(name, fn):
        def wrapped(**kw):
            calls[name] += 1
            return fn(**kw)

        return wrapped

    monkeypatch.setattr(montecarlo, "simulate_deals", count("exact", exact))
    monkeypatch.setattr(montecarlo, "simulate_sums", count("sums", on_sums))

    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    # 3,000 open deals: one by one, one simulation for every level, month and quarter, per currency
    # and once more in the reporting currency.
    assert calls == {"exact": 2, "sums": 0}
    by_deal = _montecarlo_rows(pipeline)

    monkeypatch.setattr(montecarlo, "EXACT_MONTECARLO_MAX_DEALS", 2999)
    result = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    # The per-currency pass now on sums; the reporting currency's one still deal by deal (without a
    # USD rate it has only the EUR deals, fewer than the threshold).
    assert calls == {"exact": 3, "sums": 2} and result["written"] > 0
    by_sums = _montecarlo_rows(pipeline)

    assert by_sums.keys() == by_deal.keys()
    pipeline_level = [key for key in by_deal if key[0] is None and key[1] is None]
    assert len(pipeline_level) == 2 * (3 + 3)  # EUR and USD, three months and three quarters
    # Within the sampling error of 4,000 futures (the USD cells hold only ~430 deals).
    for key in pipeline_level:
        mine, theirs = by_sums[key], by_deal[key]
        assert float(mine.expected) == pytest.approx(float(theirs.expected), rel=0.02)
        assert float(mine.p10) == pytest.approx(float(theirs.p10), rel=0.05)
        assert float(mine.p90) == pytest.approx(float(theirs.p90), rel=0.05)


def _refresh_queries(pipeline) -> int:
    with CaptureQueriesContext(connection) as context:
        services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    # SQLite inserts the snapshot rows in batches of a few hundred: count the other queries.
    return sum(not q["sql"].startswith("INSERT") for q in context.captured_queries)


@pytest.mark.django_db
@pytest.mark.parametrize("threshold", [montecarlo.EXACT_MONTECARLO_MAX_DEALS, 0])
def test_todays_recompute_runs_a_few_queries_whatever_the_number_of_deals(
    pipeline, stages, team, monkeypatch, threshold
):
    monkeypatch.setattr(montecarlo, "EXACT_MONTECARLO_MAX_DEALS", threshold)
    owners = [UserFactory(username=f"rep{i}", team=team if i % 2 else None) for i in range(3)]
    _store_fit(pipeline, stages)
    _deals(pipeline, stages, owners, 20, seed=1)
    few = _refresh_queries(pipeline)
    _deals(pipeline, stages, owners, 400, seed=2)
    many = _refresh_queries(pipeline)
    # A savepoint, the lock, the fit, the stages, the open sums, the won sums, the owners' teams,
    # the managers (none here), the quotas, the open deals (for the warnings, the outlook and the
    # simulation deal by deal), the exchange rates (the deals are in EUR and USD), the latest
    # digest, and its release.
    assert few == many == 13


@pytest.mark.django_db
def test_the_first_recompute_fits_once_and_the_scheduled_refit_keeps_the_fit(pipeline, stages, team):
    owners = [UserFactory(username="solo", team=team)]
    _deals(pipeline, stages, owners, 50)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert ForecastFit.objects.filter(pipeline=pipeline).count() == 1
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert ForecastFit.objects.filter(pipeline=pipeline).count() == 1
    # The scheduled refit on the same day finds the same parameters: nothing new.
    services.learned_probabilities_refit(pipeline_id=pipeline.pk)
    assert ForecastFit.objects.filter(pipeline=pipeline).count() == 1


@pytest.mark.django_db
# The deals spread over the next five months from today: a fixed day keeps every currency in every
# period (on some days no USD deal fell into one month and that month had nothing to compare).
@time_machine.travel("2026-03-10 10:00:00+00:00", tick=False)
def test_the_snapshot_uses_the_latest_stored_fit(pipeline, stages, team):
    owners = [UserFactory(username="solo", team=team)]
    _deals(pipeline, stages, owners, 50)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    before = {
        (r.period_kind, r.period_start, r.currency): r.expected
        for r in snapshots.latest_snapshots(pipeline_id=pipeline.pk).filter(method="learned", owner=None, team=None)
    }
    fit = ForecastFit.objects.get(pipeline=pipeline)
    parameters = fit.parameters
    for stage in parameters["stages"]:
        stage["learned"] = 1.0 if stage["learned"] < 1 else stage["learned"]
    ForecastFit.objects.create(pipeline=pipeline, fitted_on=timezone.localdate(), parameters=parameters)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    rows = snapshots.latest_snapshots(pipeline_id=pipeline.pk).filter(method="learned", owner=None, team=None)
    after = {(r.period_kind, r.period_start, r.currency): r for r in rows}
    assert after.keys() == before.keys()
    # Every open deal now counts in full: the learned figure is the open amount plus the won.
    for key, row in after.items():
        assert row.expected == row.p90
        assert row.expected > before[key] or row.expected == row.won  # or no open deal in that period
    assert ForecastSnapshot.objects.values("run").distinct().count() == 2
