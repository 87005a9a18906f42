"""The learned and Monte Carlo forecasts from history: when deals close, and what is not yet there.

Three parts, each learned from the history up to the as-of date:

- the open deals, each with its chance of being won in every period ahead
  (`timing.landing`: by stage, age in stage and expected close; overdue and undated deals
  included, stale deals fading);
- new business, the deals not created yet (`runrate`), as its own line;
- what was won already in the periods ahead (as-of dates inside a period).

`learned_outlook` gives the expected amount with a range from a normal approximation;
`montecarlo_outlook` simulates futures in which deals are won one by one under a shared shock
(good and bad months move every deal and the new business together), so that its P10–P90 is an
honest range. Both return `methods.PeriodForecast` with `extra["pipeline"]` and
`extra["new_business"]` (currencies × periods).
"""

from __future__ import annotations

import numpy as np

from . import runrate as runrate_module
from . import timing as timing_module
from . import methods
from .history import OPEN, WON, Book, History
from .methods import (
    DEFAULT_SIMULATIONS,
    Z90,
    PeriodForecast,
    _amounts,
    _group_sum,
    _quota_array,
    close_period_offsets,
    currency_index,
    simulated_figures,
)
from .periods import period_start

# Closed deals that weigh as much as the stage probabilities and reps' dates do.
PRIOR_CLOSED_DEALS = 20
# How closely new business follows the open deals' luck in a month (the shared shock).
NEW_BUSINESS_SHOCK_SHARE = 0.5
# Deal-futures simulated at once; past EXACT_CELLS per future block the sums are simulated instead.
BLOCK_CELLS = 4_000_000
EXACT_MAX_DEALS = 50_000


class Parts:
    """What both forecasts are made of, computed once."""

    def __init__(self, history: History, book: Book, *, kind: str, first_period: int, horizon: int,
                 timing: timing_module.TimingModel | None = None, new_business: bool = True):  # fmt: skip
        self.timing = timing if timing is not None else timing_module.fit_timing(history, book.as_of)
        self.currencies, self.cur = currency_index(book.currency)
        n_cur = len(self.currencies)
        self.amount = _amounts(book)
        offset = close_period_offsets(book, kind, first_period, horizon)
        self.won = _group_sum(np.where(book.status == WON, self.amount, 0.0), self.cur, offset, n_cur, horizon)
        landing = timing_module.landing(self.timing, book, kind=kind, first_period=first_period, horizon=horizon)
        self.calibration = timing_module.calibrate_periods(self.timing, history, kind=kind)
        position = np.arange(first_period, first_period + horizon) % len(self.calibration.factor)
        landing = landing * self.calibration.factor[position][None, :]
        # A deal is won once: its chances over the periods never add up to more than one.
        landing = landing / np.maximum(landing.sum(axis=1, keepdims=True), 1.0)
        probability = timing_module.win_probability(self.timing, book)
        # While few deals have closed, the history says little about timing: the forecast leans on
        # the stage probabilities (learned, shrunk towards the admin's) and the reps' dates.
        closed = int((book.status != OPEN).sum())
        self.evidence = closed / (closed + PRIOR_CLOSED_DEALS)
        if self.evidence < 1:
            stage_model = methods.fit_learned(history, book.as_of)
            stage_p = np.where(book.status == OPEN, stage_model.probability[book.stage], 0.0)
            offset = close_period_offsets(book, kind, first_period, horizon)
            dated = np.zeros_like(landing)
            rows = np.flatnonzero((offset >= 0) & (book.status == OPEN))
            dated[rows, offset[rows]] = stage_p[rows]
            landing = self.evidence * landing + (1 - self.evidence) * dated
            probability = np.where(
                book.status == OPEN, self.evidence * probability + (1 - self.evidence) * stage_p, probability
            )
        self.landing, self.probability = landing, probability
        self.shock = self.calibration.shock
        a, q = self.amount[:, None], self.landing
        self.pipeline = self._by_currency(a * q, n_cur)
        self.chance_variance = self._by_currency(a**2 * q * (1 - q), n_cur)
        if new_business:
            self.runrate = runrate_module.fit_runrate(
                history, book, kind=kind, first_period=first_period, horizon=horizon,
                currencies=self.currencies, currency=self.cur,
            )  # fmt: skip
        else:
            self.runrate = runrate_module.RunRate(
                self.currencies, np.zeros((n_cur, horizon)), np.zeros((n_cur, horizon)), 0
            )

    def _by_currency(self, values: np.ndarray, n_cur: int) -> np.ndarray:
        out = np.zeros((n_cur, values.shape[1]))
        for j in range(values.shape[1]):  # a loop over the periods, not the deals
            out[:, j] = np.bincount(self.cur, weights=values[:, j], minlength=n_cur)
        return out

    def extra(self) -> dict:
        return {
            "pipeline": self.pipeline,
            "new_business": self.runrate.expected,
            "shock": self.shock,
            "new_business_spread": self.runrate.spread,
        }


def weighted_outlook(
    history: History, book: Book, *, kind: str, first_period: int, horizon: int, parts: Parts | None = None, **options
) -> PeriodForecast:
    """The admin's probabilities (`methods.weighted`), with the dates they lack: a deal whose
    expected close is missing or already passed is spread over the periods ahead as such deals of
    its stage and age were won before (the timing model's shape), instead of vanishing."""
    p = parts or Parts(history, book, kind=kind, first_period=first_period, horizon=horizon, **options)
    start = np.datetime64(period_start(first_period, kind), "D")
    undated = (book.status == OPEN) & (np.isnat(book.expected_close) | (book.expected_close < start))
    dated = book.subset(np.ones(len(book), bool))
    dated.expected_close = np.where(undated, np.datetime64("NaT", "D"), book.expected_close)
    probability = methods.weighted_probability(history, book)
    result = methods.expected_forecast(
        dated, probability, method="weighted", kind=kind, first_period=first_period, horizon=horizon
    )
    ever = timing_module.win_probability(p.timing, book, money=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(ever[:, None] > 0, p.landing / ever[:, None], 0.0)
    shape = shape / np.maximum(shape.sum(axis=1, keepdims=True), 1.0)
    chance = np.where(undated[:, None], probability[:, None] * shape, 0.0)
    a = p.amount[:, None]
    n_cur = len(p.currencies)
    # The dated deals' part of the range, as `methods.expected_forecast` computes it.
    offset = close_period_offsets(dated, kind, first_period, horizon)
    open_p = np.where(book.status == OPEN, probability, 0.0)
    dated_variance = _group_sum(p.amount**2 * open_p * (1 - open_p), p.cur, offset, n_cur, horizon)
    dated_most = _group_sum(np.where(book.status == OPEN, p.amount, 0.0), p.cur, offset, n_cur, horizon)
    spread = p._by_currency(a * chance, n_cur)
    variance = dated_variance + p._by_currency(a**2 * chance * (1 - chance), n_cur)
    most = result.won + dated_most + p._by_currency(a * (chance > 0), n_cur)
    if n_cur:
        result.expected = result.expected + spread
        sd = np.sqrt(variance)
        result.p50 = result.expected
        result.p10 = np.maximum(result.won, result.expected - Z90 * sd)
        result.p90 = np.minimum(most, result.expected + Z90 * sd)
    result.extra = {"spread_deals": int(undated.sum())}
    return result


def learned_outlook(
    history: History, book: Book, *, kind: str, first_period: int, horizon: int, parts: Parts | None = None, **options
) -> PeriodForecast:
    """Won so far + Σ amount × chance of landing in the period + the new business expected."""
    p = parts or Parts(history, book, kind=kind, first_period=first_period, horizon=horizon, **options)
    new = p.runrate.expected
    expected = p.won + p.pipeline + new
    shock = np.expm1(p.shock**2)
    variance = p.chance_variance + shock * p.pipeline**2 + np.expm1(p.runrate.spread**2) * new**2
    sd = np.sqrt(variance)
    return PeriodForecast(
        method="learned",
        kind=kind,
        first_period=first_period,
        currencies=p.currencies,
        won=p.won,
        expected=expected,
        p10=np.maximum(p.won, expected - Z90 * sd),
        p50=expected,
        p90=expected + Z90 * sd,
        deal_probability=p.probability,
        extra=p.extra(),
    )


def montecarlo_outlook(
    history: History,
    book: Book,
    *,
    kind: str,
    first_period: int,
    horizon: int,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota=None,
    parts: Parts | None = None,
    **options,
) -> PeriodForecast:
    """Simulated futures: in each, a shared shock M = exp(σZ − σ²/2) scales every open deal's
    chances, each deal is then won (in one period) or not on its own, and the new business of
    each period is drawn log-normal around its level, partly sharing the shock."""
    p = parts or Parts(history, book, kind=kind, first_period=first_period, horizon=horizon, **options)
    rng = np.random.default_rng(seed)
    n_cur = len(p.currencies)
    sigma = p.shock
    z = rng.standard_normal(simulations)
    factor = np.exp(sigma * z - sigma**2 / 2)
    pipeline = _simulate_pipeline(p, factor, rng, n_cur, horizon)
    share = NEW_BUSINESS_SHOCK_SHARE
    z_new = share * z[:, None, None] + np.sqrt(1 - share**2) * rng.standard_normal((simulations, n_cur, horizon))
    s = p.runrate.spread[None]
    new = p.runrate.expected[None] * np.exp(s * z_new - s**2 / 2)
    totals = pipeline + new
    figures = simulated_figures(totals, p.won, None if quota is None else _quota_array(quota, p.currencies, horizon))
    return PeriodForecast(
        method="montecarlo",
        kind=kind,
        first_period=first_period,
        currencies=p.currencies,
        won=p.won,
        expected=figures["expected"],
        p10=figures["p10"],
        p50=figures["p50"],
        p90=figures["p90"],
        quota_chance=figures["quota_chance"],
        deal_probability=p.probability,
        extra={**p.extra(), "simulations": simulations},
    )


def _simulate_pipeline(p: Parts, factor: np.ndarray, rng, n_cur: int, horizon: int) -> np.ndarray:
    """futures × currencies × periods won from the open deals."""
    n = len(factor)
    out = np.zeros((n, n_cur, horizon))
    live = np.flatnonzero((p.landing.sum(axis=1) > 0) & (p.amount > 0))
    if not len(live):
        return out
    if len(live) > EXACT_MAX_DEALS:
        return _simulate_sums(p, live, factor, rng, n_cur, horizon)
    cumulative = np.cumsum(p.landing[live], axis=1)  # deals × periods
    money = np.zeros((len(live), n_cur))
    money[np.arange(len(live)), p.cur[live]] = p.amount[live]
    block = max(1, BLOCK_CELLS // len(live))
    for start in range(0, n, block):  # blocks of futures; each is numpy over futures × deals
        f = factor[start : start + block]
        u = rng.random((len(f), len(live)))
        below = np.zeros_like(u, dtype=bool)
        for j in range(horizon):
            reach = u < np.minimum(f[:, None] * cumulative[None, :, j], 1.0)
            out[start : start + len(f), :, j] = (reach & ~below).astype(float) @ money
            below |= reach
    return out


def _simulate_sums(p: Parts, live, factor, rng, n_cur, horizon) -> np.ndarray:
    """The same on sums for very large pipelines: given the shock, a period's total is close to
    normal with mean M·Σaq and variance M·Σa²q − M²·Σa²q²."""
    a, q = p.amount[live], p.landing[live]
    out = np.zeros((len(factor), n_cur, horizon))
    for j in range(horizon):
        s1 = np.bincount(p.cur[live], weights=a * q[:, j], minlength=n_cur)
        s2 = np.bincount(p.cur[live], weights=a**2 * q[:, j], minlength=n_cur)
        s2q = np.bincount(p.cur[live], weights=(a * q[:, j]) ** 2, minlength=n_cur)
        f = factor[:, None]
        mean = f * s1[None]
        var = np.maximum(f * s2[None] - f**2 * s2q[None], 0.0)
        out[:, :, j] = np.maximum(mean + np.sqrt(var) * rng.standard_normal(mean.shape), 0.0)
    return out


def open_without(book: Book) -> dict:
    """How many open deals lack what a date-and-amount forecast needs."""
    open_ = book.status == OPEN
    return {
        "open": int(open_.sum()),
        "no_amount": int((open_ & np.isnan(book.amount.astype(float))).sum()),
        "no_expected_close": int((open_ & np.isnat(book.expected_close)).sum()),
        "overdue": int((open_ & (book.expected_close < book.as_of.astype("datetime64[D]"))).sum()),
    }


def forecast(
    history: History,
    book: Book,
    *,
    method: str,
    kind: str,
    first_period: int,
    horizon: int,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota=None,
) -> PeriodForecast:
    """One method by name ("weighted", "learned", "montecarlo")."""
    parts = Parts(history, book, kind=kind, first_period=first_period, horizon=horizon)
    common = {"kind": kind, "first_period": first_period, "horizon": horizon, "parts": parts}
    if method == "weighted":
        return weighted_outlook(history, book, **common)
    if method == "learned":
        return learned_outlook(history, book, **common)
    if method == "montecarlo":
        return montecarlo_outlook(history, book, simulations=simulations, seed=seed, quota=quota, **common)
    raise ValueError(f"unknown method {method!r}")
