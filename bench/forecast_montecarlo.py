"""Monte Carlo speed on a large open pipeline (no database): `python bench/forecast_montecarlo.py`.

Builds 100,000 open deals spread over the stages with close dates over the next six months,
learns probabilities, slips and the correlation from a synthetic history, and times the
simulation. Not part of the test run.
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--simulations", type=int, nargs="*", default=[1000, 2000])
    args = parser.parse_args()
    synth = synthetic.generate(seed=7, months=48, deals_per_month=200)
    model = methods.fit_learned(synth.history, np.datetime64("2026-01-01T00:00:00"))
    print(
        f"numpy {np.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
        f"correlation {model.correlation:.3f}"
    )
    book = big_book(args.deals)
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
    start = time.perf_counter()
    methods.fit_learned(synth.history, np.datetime64("2026-01-01T00:00:00"))
    print(
        f"fit on {synth.history.n_deals:,} deals / {len(synth.history.sc_deal):,} stage changes: "
        f"{time.perf_counter() - start:.2f} s"
    )


if __name__ == "__main__":
    main()
