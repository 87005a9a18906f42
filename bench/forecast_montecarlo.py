"""Monte Carlo speed on a large open pipeline (no database): `python bench/forecast_montecarlo.py`.

Builds 100,000 open deals spread over the stages with close dates over the next six months,
learns probabilities, slips and the correlation from a synthetic history, and times the
simulation deal by deal (`methods.montecarlo`) and on sums per stage and close day
(`methods.montecarlo_aggregate`, what today's snapshot uses past
`services.EXACT_MONTECARLO_MAX_DEALS` open deals; the sums are what its GROUP BY returns, so
their grouping here is not timed). With `--levels`, also the snapshot's simulation of every
level (the pipeline, 4 teams, 20 owners) and both calendars (3 months, 2 quarters): once for
all of them (`methods.simulate_open`, what the snapshot runs) against each level and calendar
simulated on its own. Not part of the test run.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting import methods, synthetic  # noqa: E402
from forecasting.history import OPEN, Book  # noqa: E402
from forecasting.periods import MONTH, QUARTER, period_of  # noqa: E402


def big_book(n: int, seed: int = 1) -> Book:
    rng = np.random.default_rng(seed)
    as_of = np.datetime64("2026-01-01T00:00:00")
    return Book(
        as_of=as_of,
        index=np.arange(n),
        deal_id=np.arange(1, n + 1),
        external_id=np.array([""] * n, dtype=object),
        owner_id=rng.integers(1, 50, n),
        stage=rng.integers(0, 5, n),
        status=np.full(n, OPEN, np.int8),
        status_since=np.full(n, as_of),
        amount=np.round(rng.lognormal(np.log(15000), 0.8, n), 2),
        currency=np.where(rng.random(n) < 0.8, "EUR", "USD").astype(object),
        expected_close=np.datetime64("2026-01-01") + rng.integers(-20, 180, n).astype("timedelta64[D]"),
        probability=np.full(n, np.nan),
        category=np.zeros(n, np.int8),
    )


def day_sums(book: Book, kind: str, first: int, horizon: int, model) -> tuple:
    """The book summed per currency, stage and close day (what the snapshot's GROUP BY returns),
    weighted by the chance of landing in each period: Σ q·a, Σ q·a², Σ q²·a² per currency, period
    and stage."""
    currencies, cur = methods.currency_index(book.currency)
    k = len(model.probability)
    as_of = book.as_of.astype("datetime64[D]")
    due = (book.expected_close - as_of).astype(np.int64)
    key = (cur * k + book.stage) * 1000 + (due + 500)
    groups, inverse = np.unique(key, return_inverse=True)
    a1 = np.bincount(inverse, weights=book.amount)
    a2 = np.bincount(inverse, weights=book.amount**2)
    g_cur, g_stage, g_due = groups // 1000 // k, groups // 1000 % k, groups % 1000 - 500
    return currencies, g_cur, g_stage, g_due, a1, a2


def on_sums(model, sums, kind: str, first: int, horizon: int, simulations: int):
    currencies, g_cur, g_stage, g_due, a1, a2 = sums
    k = len(model.probability)
    q = methods.landing_chances(
        model, g_stage, g_due, as_of_day=np.datetime64("2026-01-01"), kind=kind, first_period=first, horizon=horizon
    )
    shape = (len(currencies), horizon, k)
    s1, s2, s2q = (np.zeros(shape) for _ in range(3))
    for j in range(horizon):
        np.add.at(s1, (g_cur, j, g_stage), q[:, j] * a1)
        np.add.at(s2, (g_cur, j, g_stage), q[:, j] * a2)
        np.add.at(s2q, (g_cur, j, g_stage), q[:, j] ** 2 * a2)
    return methods.montecarlo_aggregate(model.probability, model.correlation, s1, s2, s2q, simulations=simulations)


def levels(model, book: Book, simulations: int) -> None:
    """The snapshot's levels simulated at once, and one by one (per level and calendar)."""
    owner = book.owner_id % 20
    teams = [np.arange(t, 20, 4) for t in range(4)]
    level_owners = [None] + teams + [np.array([o]) for o in range(20)]
    day = np.datetime64("2026-01-01")
    calendars = [
        methods.Calendar(kind, int(period_of(np.array([day]), kind)[0]), horizon)
        for kind, horizon in ((MONTH, 3), (QUARTER, 2))
    ]
    currencies, cur = methods.currency_index(book.currency)
    start, cpu = time.perf_counter(), time.process_time()
    methods.simulate_open(
        model,
        book,
        calendars=calendars,
        currency=cur,
        n_currencies=len(currencies),
        group=owner,
        levels=[np.arange(20) if o is None else o for o in level_owners],
        simulations=simulations,
    )
    once, once_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    for c in calendars:
        for o in level_owners:
            sub = book if o is None else book.subset(np.isin(owner, o))
            methods.montecarlo(
                model, sub, kind=c.kind, first_period=c.first_period, horizon=c.horizon, simulations=simulations
            )
    alone, alone_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{len(book.amount):,} open deals, {simulations:,} futures, {len(level_owners)} levels × 2 calendars: "
        f"once {once:.2f} s wall ({once_cpu:.2f} s CPU), each alone {alone:.2f} s wall ({alone_cpu:.2f} s CPU)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--simulations", type=int, nargs="*", default=[1000, 2000])
    parser.add_argument("--levels", action="store_true", help="only the snapshot's levels: at once and one by one")
    args = parser.parse_args()
    synth = synthetic.generate(seed=7, months=48, deals_per_month=200)
    model = methods.fit_learned(synth.history, np.datetime64("2026-01-01T00:00:00"))
    print(
        f"numpy {np.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"correlation {model.correlation:.3f}"
    )
    book = big_book(args.deals)
    if args.levels:
        for sims in args.simulations:
            levels(model, book, sims)
        return
    for kind, horizon in ((MONTH, 6), (QUARTER, 2)):
        first = int(period_of(np.array(["2026-01-01"], "datetime64[D]"), kind)[0])
        for sims in args.simulations:
            start, cpu = time.perf_counter(), time.process_time()
            result = methods.montecarlo(model, book, kind=kind, first_period=first, horizon=horizon, simulations=sims)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"{args.deals:,} open deals, {sims:,} futures, {horizon} {kind}s: {took:.2f} s wall, {cpu:.2f} s CPU "
                f"(P50 of the first period, EUR: {result.p50[0, 0]:,.0f})"
            )
            sums = day_sums(book, kind, first, horizon, model)
            start, cpu = time.perf_counter(), time.process_time()
            aggregate = on_sums(model, sums, kind, first, horizon, sims)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"  on sums ({len(sums[1]):,} stage × close-day groups): {took:.3f} s wall, {cpu:.3f} s CPU "
                f"(EUR, first period: P10 {aggregate['p10'][0, 0]:,.0f} vs {result.p10[0, 0]:,.0f}, "
                f"P50 {aggregate['p50'][0, 0]:,.0f} vs {result.p50[0, 0]:,.0f}, "
                f"P90 {aggregate['p90'][0, 0]:,.0f} vs {result.p90[0, 0]:,.0f})"
            )
    start = time.perf_counter()
    methods.fit_learned(synth.history, np.datetime64("2026-01-01T00:00:00"))
    print(
        f"fit on {synth.history.n_deals:,} deals / {len(synth.history.sc_deal):,} stage changes: "
        f"{time.perf_counter() - start:.2f} s"
    )


if __name__ == "__main__":
    main()
