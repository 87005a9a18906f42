"""The deal-by-deal Monte Carlo simulates the open deals once for every level (pipeline, team,
owner) and calendar (months, quarters): the same figures as simulating each level on its own,
totals that add up in every future, reproducible with a seed, and a recompute whose query count
does not depend on the number of owners and teams."""

import tracemalloc
from datetime import date

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Team
from forecasting import methods, montecarlo, services, snapshots, synthetic
from forecasting.history import OPEN, Book
from forecasting.periods import MONTH, QUARTER, period_of_date
from tests.factories import UserFactory
from tests.forecasting.test_today import _deals, _store_fit

AS_OF = date(2026, 1, 10)  # the first month of a quarter: its three months are the quarter
OWNERS = (1, 2, 3, 4, 5)
TEAMS = {"north": [1, 2], "south": [3, 4]}  # owner 5 is in no team
LEVELS = [None, TEAMS["north"], TEAMS["south"]] + [[o] for o in OWNERS]
CURRENCIES = ["EUR", "USD"]


@pytest.fixture(scope="module")
def model() -> methods.LearnedModel:
    synth = synthetic.generate(seed=7, months=36, deals_per_month=120)
    return methods.fit_learned(synth.history, np.datetime64("2026-01-10T23:59:59"))


def _book(n: int, seed: int = 5) -> Book:
    """`n` open deals of five owners in two currencies, due from three weeks ago to five months on."""
    rng = np.random.default_rng(seed)
    as_of = np.datetime64("2026-01-10T23:59:59")
    return Book(
        as_of=as_of,
        index=np.arange(n),
        deal_id=np.arange(n),
        external_id=np.full(n, "", dtype=object),
        owner_id=np.array(OWNERS, np.int64)[rng.integers(0, len(OWNERS), n)],
        stage=rng.integers(0, 5, n),
        status=np.full(n, OPEN, np.int8),
        status_since=np.full(n, as_of),
        amount=np.round(rng.lognormal(np.log(15000), 0.8, n), 2),
        currency=np.where(rng.random(n) < 0.8, "EUR", "USD").astype(object),
        expected_close=np.datetime64("2026-01-10") + rng.integers(-20, 150, n).astype("timedelta64[D]"),
        probability=np.full(n, np.nan),
        category=np.zeros(n, np.int8),
    )


def _calendars() -> list[methods.Calendar]:
    return [
        methods.Calendar(kind, period_of_date(AS_OF, kind), horizon)
        for kind, horizon in snapshots.SNAPSHOT_HORIZONS.items()
    ]


def _won(levels: int) -> list[np.ndarray]:
    """Something already won in every cell, so that the figures include it."""
    return [np.full((levels, len(CURRENCIES), c.horizon), 1000.0) for c in _calendars()]


def _once(model, book, *, simulations: int, seed: int = 0, levels=LEVELS) -> list[dict]:
    return montecarlo.simulate_deals(
        book=book,
        model=model,
        currencies=CURRENCIES,
        levels=levels,
        calendars=_calendars(),
        won=_won(len(levels)),
        simulations=simulations,
        seed=seed,
    )


def test_one_simulation_gives_each_level_the_figures_of_simulating_it_alone(model):
    book = _book(3000)
    together = _once(model, book, simulations=4000, seed=1)
    compared = 0
    for c, calendar in enumerate(_calendars()):
        for level, owner_ids in enumerate(LEVELS):
            sub = book if owner_ids is None else book.subset(np.isin(book.owner_id, owner_ids))
            # What the snapshot did before: each level simulated on its own, with a seed of its own.
            alone = methods.montecarlo(
                model,
                sub,
                kind=calendar.kind,
                first_period=calendar.first_period,
                horizon=calendar.horizon,
                simulations=4000,
                seed=100 + level,
            )
            for n, currency in enumerate(alone.currencies):
                row = CURRENCIES.index(currency)
                for j in range(calendar.horizon):
                    # Within the sampling error of 4,000 futures, measured against the cell's own
                    # spread (the smallest cells hold a few dozen deals): the mean within 6 % of
                    # the P10–P90 width (about 7 standard errors), P10 and P90 within 12 %.
                    width = alone.p90[n, j] - alone.p10[n, j]
                    assert width > 0
                    mine = {name: together[c][name][level, row, j] - 1000.0 for name in ("expected", "p10", "p90")}
                    assert mine["expected"] == pytest.approx(alone.expected[n, j], abs=0.06 * width)
                    assert mine["p10"] == pytest.approx(alone.p10[n, j], abs=0.12 * width)
                    assert mine["p90"] == pytest.approx(alone.p90[n, j], abs=0.12 * width)
                    if owner_ids is None:
                        assert mine["expected"] == pytest.approx(alone.expected[n, j], rel=0.03)
                    compared += 1
    assert compared == len(LEVELS) * len(CURRENCIES) * (3 + 3)


def test_in_every_future_the_owners_add_up_to_their_team_and_the_pipeline_and_the_months_to_the_quarter(model):
    book = _book(2000)
    owners, group = np.unique(book.owner_id, return_inverse=True)
    members = [np.arange(len(owners)) if ids is None else np.flatnonzero(np.isin(owners, ids)) for ids in LEVELS]
    month, quarter = methods.simulate_open(
        model,
        book,
        calendars=_calendars(),
        currency=methods.currency_index(book.currency)[1],
        n_currencies=len(CURRENCIES),
        group=group,
        levels=members,
        simulations=500,
        seed=3,
    )
    assert month.shape == (500, len(LEVELS), 2, 3) and quarter.shape == (500, len(LEVELS), 2, 3)
    owner_levels = slice(3, 3 + len(OWNERS))
    for totals in (month, quarter):
        assert totals[:, 0].sum() > 0
        np.testing.assert_allclose(totals[:, 0], totals[:, owner_levels].sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(totals[:, 1], totals[:, 3] + totals[:, 4], rtol=1e-12)
        np.testing.assert_allclose(totals[:, 2], totals[:, 5] + totals[:, 6], rtol=1e-12)
    # January to March is the first quarter: the same won deals on the same days.
    np.testing.assert_allclose(month.sum(axis=3), quarter[:, :, :, 0], rtol=1e-12)
    # The futures differ: the shared shock and the draws move the totals.
    assert np.unique(month[:, 0, 0, 0]).size > 400


def test_the_simulation_is_reproducible_with_a_seed_and_changes_with_it(model):
    book = _book(1500)
    first, again, other = (_once(model, book, simulations=300, seed=seed) for seed in (7, 7, 8))
    for c in range(len(_calendars())):
        for name in ("expected", "p10", "p50", "p90"):
            assert np.array_equal(first[c][name], again[c][name])
        assert not np.array_equal(first[c]["expected"], other[c]["expected"])


def test_memory_is_bounded_by_simulating_in_blocks(model, monkeypatch):
    book = _book(400)
    whole = _once(model, book, simulations=200, seed=2)
    # Blocks of one future each: other draws, the same shapes and an agreeing picture.
    monkeypatch.setattr(methods, "BLOCK_CELLS", 400)
    blocks = _once(model, book, simulations=200, seed=2)
    for c, calendar in enumerate(_calendars()):
        assert blocks[c]["expected"].shape == (len(LEVELS), 2, calendar.horizon)
        pipeline = whole[c]["expected"][0, 0].sum()
        assert blocks[c]["expected"][0, 0].sum() == pytest.approx(pipeline, rel=0.05)
        assert (blocks[c]["p10"] <= blocks[c]["p90"]).all()


def test_the_quota_chance_is_per_level_and_without_open_deals_is_what_was_won(model):
    book = _book(500)
    calendar = _calendars()[:1]
    won = [np.zeros((1, 2, 3))]
    won[0][0, 1] = 5000.0  # USD already won in each month
    quota = np.full((1, 2, 3), np.nan)
    quota[0, 0, 0] = 1.0  # one euro this month: reached unless every euro deal is lost
    quota[0, 1, 0] = 4000.0  # USD: already reached
    (figures,) = montecarlo.simulate_deals(
        book=book.subset(book.currency == "EUR"),
        model=model,
        currencies=CURRENCIES,
        levels=[None],
        calendars=calendar,
        won=won,
        simulations=200,
        seed=1,
        quota=[quota],
    )
    chance = figures["quota_chance"][0]
    assert chance[0, 0] == 1.0 and chance[1, 0] == 1.0
    assert np.isnan(chance[0, 1:]).all() and np.isnan(chance[1, 1:]).all()
    # No open USD deal: every figure is what was won.
    assert figures["p10"][0, 1].tolist() == figures["p90"][0, 1].tolist() == [5000.0] * 3


# --- The snapshot ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_snapshots_owner_means_add_up_to_the_pipeline(pipeline, stages, team):
    owners = [UserFactory(username=f"rep{i}", team=team if i % 2 else None) for i in range(4)]
    _deals(pipeline, stages, owners, 600)
    _store_fit(pipeline, stages)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    rows = snapshots.latest_snapshots(pipeline_id=pipeline.pk).filter(method="montecarlo", converted=False)
    pipeline_rows = rows.filter(team=None, owner=None)
    assert pipeline_rows.count() == 2 * (3 + 3)
    for row in pipeline_rows:
        cell = dict(period_kind=row.period_kind, period_start=row.period_start, currency=row.currency)
        by_owner = [r.expected for r in rows.filter(owner__isnull=False, **cell)]
        team_row = rows.get(team=team, **cell)
        in_team = [r.expected for r in rows.filter(owner__in=[o for o in owners if o.team_id], **cell)]
        # The same futures: the means add up, to the cent each owner's figure was rounded to.
        assert float(sum(by_owner)) == pytest.approx(float(row.expected), abs=0.01 * len(by_owner))
        assert float(sum(in_team)) == pytest.approx(float(team_row.expected), abs=0.01 * len(in_team))


def _recompute_queries(pipeline) -> int:
    with CaptureQueriesContext(connection) as context:
        services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    # SQLite inserts the snapshot rows in batches of a few hundred: count the other queries.
    return sum(not q["sql"].startswith("INSERT") for q in context.captured_queries)


@pytest.mark.django_db
def test_the_recompute_runs_as_many_queries_for_more_owners_and_teams(pipeline, stages, team):
    _store_fit(pipeline, stages)
    _deals(pipeline, stages, [UserFactory(username="solo", team=team)], 30, seed=1)
    few = _recompute_queries(pipeline)
    teams = [team] + [Team.objects.create(name=f"Team {i}") for i in range(3)]
    owners = [UserFactory(username=f"rep{i}", team=teams[i % 4] if i % 3 else None) for i in range(12)]
    _deals(pipeline, stages, owners, 600, seed=2)
    many = _recompute_queries(pipeline)
    # A savepoint, the lock, the fit, the stages, the open sums, the won sums, the owners' teams,
    # the managers (none here), the quotas, the open deals for the simulation, the exchange rates
    # (the deals are in EUR and USD), the latest digest, and its release.
    assert few == many == 13


@pytest.mark.parametrize("kind", [MONTH, QUARTER])
def test_the_dashboards_single_level_is_the_methods_simulation(model, kind):
    book = _book(800)
    first = period_of_date(AS_OF, kind)
    horizon = 3
    quota = {"EUR": [2e6, np.nan, np.nan]}
    alone = methods.montecarlo(
        model, book, kind=kind, first_period=first, horizon=horizon, simulations=300, seed=4, quota=quota
    )
    target = methods._quota_array(quota, CURRENCIES, horizon)
    (scope,) = montecarlo.simulate_deals(
        book=book,
        model=model,
        currencies=CURRENCIES,
        levels=[None],
        calendars=[methods.Calendar(kind, first, horizon)],
        won=[np.zeros((1, 2, horizon))],
        simulations=300,
        seed=4,
        quota=[target[None]],
    )
    for name in ("expected", "p10", "p50", "p90"):
        assert np.array_equal(scope[name][0], getattr(alone, name))
    assert np.array_equal(scope["quota_chance"][0], alone.quota_chance, equal_nan=True)


def test_a_deal_opened_in_a_currency_the_sums_did_not_see_waits_for_the_next_run(model):
    # The deals are read after the sums: one opened in between, in dollars, is not in `currencies`.
    book = _book(600)
    calendars = _calendars()
    kwargs = dict(model=model, levels=[None], calendars=calendars, simulations=200, seed=6)
    euros = montecarlo.simulate_deals(
        book=book, currencies=["EUR"], won=[np.zeros((1, 1, c.horizon)) for c in calendars], **kwargs
    )
    only_euros = montecarlo.simulate_deals(
        book=book.subset(book.currency == "EUR"),
        currencies=["EUR"],
        won=[np.zeros((1, 1, c.horizon)) for c in calendars],
        **kwargs,
    )
    assert (book.currency == "USD").any()
    for mine, theirs, calendar in zip(euros, only_euros, calendars):
        assert mine["expected"].shape == (1, 1, calendar.horizon)
        assert np.array_equal(mine["expected"], theirs["expected"]) and mine["expected"].sum() > 0


def test_twenty_thousand_deals_in_a_thousand_futures_stay_well_under_200_mb(model):
    book = _book(20_000)
    owners, group = np.unique(book.owner_id, return_inverse=True)
    members = [np.arange(len(owners)) if ids is None else np.flatnonzero(np.isin(owners, ids)) for ids in LEVELS]
    tracemalloc.start()
    try:
        month, _ = methods.simulate_open(
            model,
            book,
            calendars=_calendars(),
            currency=methods.currency_index(book.currency)[1],
            n_currencies=len(CURRENCIES),
            group=group,
            levels=members,
            simulations=1000,
            seed=1,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert month.shape == (1000, len(LEVELS), 2, 3)
    # Blocks of BLOCK_CELLS deal-futures: about 45 MB here, whatever the number of futures.
    assert peak < 80_000_000
