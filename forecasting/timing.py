"""When an open deal will be won, if at all: a time-to-close model learned from the history.

A rep's expected close date is one clue, often missing and often stale. This model learns, from
how past open deals actually ended, the chance that a deal open today is won within d days,
given what is known of it today:

- its stage,
- how long it has been in that stage (deals that sit still lose their chance: a deal created a
  year ago and never moved counts for little),
- how its expected close relates to today: none given, already passed (overdue), or due within
  30, 90 or more days.

The history is looked at from many past cutoffs (every two weeks): each deal open at a cutoff is
one observation, ending in a win, a loss, or still open when the history ends (censored). Per
group, weekly hazards of winning and of losing give the cumulative chance of a win by each week
(the Aalen–Johansen estimator of competing risks). A group with few observations borrows from
its parent (stage and age, then stage, then the whole pipeline): its hazards are shrunk towards
the parent's by `SHRINK_AT_RISK` pseudo-deals, so thin data gives the pooled estimate.

Overdue deals are just a group: their remaining chance spreads over the coming weeks as such
deals' chances did before, instead of landing in a period that is already over.

Everything is numpy over arrays; the only Python loop runs over the cutoffs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .history import LOST, OPEN, WON, Book, History, as_of, moment
from .periods import period_start

BIN_DAYS = 7
N_BINS = 78  # a year and a half of weeks; a win later than that is not counted on
AGE_EDGES_DAYS = np.array([14, 30, 60, 120, 240])  # buckets: <14, 14–30, …, ≥240 days in stage
N_AGES = len(AGE_EDGES_DAYS) + 1
NO_DATE, OVERDUE, DUE_30, DUE_90, DUE_LATER = range(5)
N_DUES = 5
CUTOFF_STEP_DAYS = 14
MAX_CUTOFFS = 60
MIN_CUTOFFS = 13
ENOUGH_OBSERVATIONS = 300_000
MIN_HISTORY_DAYS = 28
SHRINK_AT_RISK = 25.0
# How far the month's total strays from the model, beyond chance, when the history cannot say.
DEFAULT_SHOCK = 0.28
SHOCK_PRIOR_PERIODS = 6.0
MIN_SHOCK, MAX_SHOCK = 0.08, 0.6
CALIBRATION_DAYS = 30
HOLDOUT_MONTHS, HOLDOUT_QUARTERS = 6, 2


@dataclass
class TimingModel:
    """Per group (stage × age in stage × due bucket): the chance of a win by the end of each week."""

    as_of: np.datetime64
    cif: np.ndarray  # groups × (N_BINS + 1), per unit of money; cif[:, 0] = 0
    deal_cif: np.ndarray  # the same per deal: what a deal's win probability is
    at_risk: np.ndarray  # observations per group: the evidence
    shock: float  # log-scale spread of the total beyond chance (shared by every deal)
    observations: int

    @property
    def win_probability(self) -> np.ndarray:
        return self.deal_cif[:, -1]


def age_bucket(days: np.ndarray) -> np.ndarray:
    return np.searchsorted(AGE_EDGES_DAYS, np.asarray(days, float), side="right")


def due_bucket(due_days: np.ndarray) -> np.ndarray:
    """Days from today to the expected close (NaN: none given) as a bucket."""
    d = np.asarray(due_days, float)
    out = np.full(d.shape, DUE_LATER, np.int64)
    out[d <= 90] = DUE_90
    out[d <= 30] = DUE_30
    out[d < 0] = OVERDUE
    out[np.isnan(d)] = NO_DATE
    return out


def deal_groups(book: Book, n_stages: int) -> np.ndarray:
    """The model group of every deal of `book` (open or not; only open deals are meaningful)."""
    at = book.as_of
    in_stage = (at - book.status_since).astype("timedelta64[s]").astype(np.int64) / 86400.0
    due = (book.expected_close - at.astype("datetime64[D]")).astype("timedelta64[D]").astype(float)
    due[np.isnat(book.expected_close)] = np.nan
    return group_index(book.stage, age_bucket(in_stage), due_bucket(due), n_stages)


def group_index(stage, age, due, n_stages) -> np.ndarray:
    stage = np.clip(np.asarray(stage, np.int64), 0, n_stages - 1)
    return (stage * N_AGES + age) * N_DUES + due


def fit_timing(
    history: History, until, *, step_days: int = CUTOFF_STEP_DAYS, max_cutoffs: int = MAX_CUTOFFS
) -> TimingModel:
    """Learn the model from everything recorded up to `until`."""
    t = moment(until)
    k = len(history.stage_ids)
    n_groups = k * N_AGES * N_DUES
    now = as_of(history, t)
    final_status = np.full(history.n_deals, OPEN, np.int8)
    final_at = np.full(history.n_deals, t, "datetime64[s]")
    final_status[now.index] = now.status
    closed = now.status != OPEN
    final_at[now.index[closed]] = now.status_since[closed]

    # Counted twice: per deal (for win probabilities) and per unit of money, each deal weighted by
    # its amount over the mean amount (for the money forecast: small deals that win fast and often
    # must not lift the big ones of their stage).
    wins = np.zeros((2, n_groups, N_BINS))
    losses = np.zeros((2, n_groups, N_BINS))
    exits = np.zeros((2, n_groups, N_BINS + 1))
    totals = np.zeros((2, n_groups))
    mean_amount = float(np.nanmean(history.amount)) if np.isfinite(history.amount).any() else 1.0
    mean_amount = mean_amount if mean_amount > 0 else 1.0
    calibration = []  # per cutoff: deal groups, amounts, won within CALIBRATION_DAYS
    first = history.created_at.min() if history.n_deals else t
    step = np.timedelta64(step_days * 86400, "s")
    cutoffs_seen = 0
    for c in range(1, max_cutoffs + 1):  # a loop over cutoffs, each one numpy over its deals
        cutoff = t - c * step
        if cutoff < first + np.timedelta64(MIN_HISTORY_DAYS * 86400, "s"):
            break
        # A big pipeline says enough in half a year of cutoffs; more would only cost time.
        if cutoffs_seen >= MIN_CUTOFFS and totals[0].sum() >= ENOUGH_OBSERVATIONS:
            break
        book = as_of(history, cutoff)
        open_ = book.status == OPEN
        if not open_.any():
            continue
        idx = book.index[open_]
        group = deal_groups(book, k)[open_]
        status = final_status[idx]
        days = (final_at[idx] - cutoff).astype(np.int64) / 86400.0
        week = np.minimum((days // BIN_DAYS).astype(np.int64), N_BINS)
        won = (status == WON) & (week < N_BINS)
        lost = (status == LOST) & (week < N_BINS)
        censored = ~(won | lost)
        amount = np.nan_to_num(history.amount[idx].astype(float))
        cells = n_groups * (N_BINS + 1)
        key = group * (N_BINS + 1) + week
        before = group * (N_BINS + 1) + np.maximum(week - 1, 0)
        for layer, weight in enumerate((np.ones(len(idx)), amount / mean_amount)):
            wins[layer] += np.bincount(key[won], weight[won], cells).reshape(n_groups, -1)[:, :N_BINS]
            losses[layer] += np.bincount(key[lost], weight[lost], cells).reshape(n_groups, -1)[:, :N_BINS]
            # A censored deal was still open at the end: at risk for half of its last week.
            half = 0.5 * weight[censored]
            exits[layer] += (
                np.bincount(key[~censored], weight[~censored], cells)
                + np.bincount(before[censored], half, cells)
                + np.bincount(key[censored], half, cells)
            ).reshape(n_groups, -1)
            totals[layer] += np.bincount(group, weights=weight, minlength=n_groups)
        cutoffs_seen += 1
        if (t - cutoff) >= np.timedelta64(CALIBRATION_DAYS * 86400, "s"):
            calibration.append((group, amount, won & (days < CALIBRATION_DAYS)))

    deals_cif, money_cif = (_cif(wins[x], losses[x], exits[x], totals[x], k) for x in (0, 1))
    model = TimingModel(
        as_of=t, cif=money_cif, deal_cif=deals_cif, at_risk=totals[0], shock=DEFAULT_SHOCK,
        observations=int(totals[0].sum()),
    )  # fmt: skip
    model.shock = _shock(model, calibration)
    return model


def _cif(wins, losses, exits, totals, k) -> np.ndarray:
    """The chance of a win by the end of each week per group (Aalen–Johansen)."""
    n_groups = len(totals)
    at_risk = totals[:, None] - np.c_[np.zeros(n_groups), np.cumsum(exits, axis=1)[:, : N_BINS - 1]]
    hw, hl = _shrunk_hazards(wins, losses, np.maximum(at_risk, 0.0), k)
    survive = np.cumprod(np.c_[np.ones(n_groups), 1.0 - hw - hl][:, :N_BINS], axis=1)
    return np.clip(np.c_[np.zeros(n_groups), np.cumsum(survive * hw, axis=1)], 0.0, 1.0)


def _shrunk_hazards(wins, losses, at_risk, k):
    """Weekly hazards of winning and losing per group, each shrunk towards its parent's."""
    shape = (k, N_AGES, N_DUES, N_BINS)
    w, lo, r = (x.reshape(shape) for x in (wins, losses, at_risk))

    def rate(events, risk, parent):
        return (events + SHRINK_AT_RISK * parent) / (risk + SHRINK_AT_RISK)

    pool_r = r.sum(axis=(0, 1, 2))
    pool_w = w.sum(axis=(0, 1, 2)) / np.maximum(pool_r, 1e-9)
    pool_l = lo.sum(axis=(0, 1, 2)) / np.maximum(pool_r, 1e-9)
    stage_w = rate(w.sum(axis=(1, 2)), r.sum(axis=(1, 2)), pool_w[None])
    stage_l = rate(lo.sum(axis=(1, 2)), r.sum(axis=(1, 2)), pool_l[None])
    age_w = rate(w.sum(axis=2), r.sum(axis=2), stage_w[:, None])
    age_l = rate(lo.sum(axis=2), r.sum(axis=2), stage_l[:, None])
    full_w = rate(w, r, age_w[:, :, None])
    full_l = rate(lo, r, age_l[:, :, None])
    total = np.maximum(full_w + full_l, 1.0)  # never more than everyone leaving in a week
    return (full_w / total).reshape(-1, N_BINS), (full_l / total).reshape(-1, N_BINS)


def _shock(model: TimingModel, calibration) -> float:
    """The log-scale spread, beyond independent chance, of what the open deals brought in the next
    month at past cutoffs against what the model expected (a method-of-moments estimate)."""
    ratios = []
    for group, amount, won in calibration:
        q = cif_at(model, group, np.full(len(group), float(CALIBRATION_DAYS)))
        expected = float(np.sum(amount * q))
        if expected <= 0:
            continue
        chance = float(np.sum(amount**2 * q * (1 - q)))
        actual = float(np.sum(amount * won))
        ratios.append(((actual - expected) ** 2 - chance) / expected**2)
    if len(ratios) < 6:
        return DEFAULT_SHOCK
    variance = max(float(np.mean(ratios)), 0.0)
    return float(np.clip(np.sqrt(np.log1p(variance)), MIN_SHOCK, MAX_SHOCK))


def cif_at(model: TimingModel, group: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The chance that a deal of `group` is won within `days` (linear within a week)."""
    pos = np.clip(np.asarray(days, float) / BIN_DAYS, 0, N_BINS)
    lo = np.minimum(np.floor(pos).astype(np.int64), N_BINS - 1)
    frac = pos - lo
    row = model.cif[group]
    take = np.take_along_axis
    a = take(row, lo[:, None], axis=1)[:, 0]
    b = take(row, (lo + 1)[:, None], axis=1)[:, 0]
    return a + frac * (b - a)


def period_windows(at: np.datetime64, kind: str, first_period: int, horizon: int) -> np.ndarray:
    """Day offsets from `at` of the edges of the periods first_period … + horizon (clipped at 0)."""
    edges = np.array([np.datetime64(period_start(first_period + j, kind), "s") for j in range(horizon + 1)])
    return np.maximum((edges - at).astype(np.int64) / 86400.0, 0.0)


def landing(model: TimingModel, book: Book, *, kind: str, first_period: int, horizon: int) -> np.ndarray:
    """Per deal of `book` (rows) the chance that it is won in each period (columns); zero for
    deals that are not open. What is left is lost or won after the horizon."""
    k = len(model.cif) // (N_AGES * N_DUES)
    out = np.zeros((len(book), horizon))
    open_ = np.flatnonzero(book.status == OPEN)
    if not len(open_) or horizon < 1:
        return out
    group = deal_groups(book, k)[open_]
    edges = period_windows(book.as_of, kind, first_period, horizon)
    cum = np.stack([cif_at(model, group, np.full(len(group), e)) for e in edges], axis=1)
    out[open_] = np.diff(cum, axis=1)
    return out


def win_probability(model: TimingModel, book: Book, *, money: bool = False) -> np.ndarray:
    """Per deal: won 1, lost 0, open: the chance it is ever won (within a year and a half); with
    `money`, the share of such deals' money that was won."""
    k = len(model.cif) // (N_AGES * N_DUES)
    p = (model.cif if money else model.deal_cif)[deal_groups(book, k), -1]
    return np.where(book.status == OPEN, p, np.where(book.status == WON, 1.0, 0.0))


@dataclass
class PeriodCalibration:
    """How the open deals' money actually landed in past periods against the model: a factor per
    position of the period (month of the quarter: reps pull wins into a quarter's last days) and
    the spread beyond chance (log scale)."""

    factor: np.ndarray  # per position (3 for months, 1 for quarters)
    shock: float
    periods: int


def calibrate_periods(
    model: TimingModel, history: History, *, kind: str, until=None, max_periods: int = 24, holdout: int | None = None
) -> PeriodCalibration:
    """Forecast, with `model`, each past period from the end of the one before (only periods that
    ended by `until`, default the model's date) and compare with what those deals brought in it.

    The factors come from `model`. The spread is measured out of sample: the last `holdout`
    periods are forecast again by a model that learned only from what was known before them, since
    a model judged on the periods it learned from looks surer than it is."""
    from .periods import MONTH, period_of

    holdout = (HOLDOUT_MONTHS if kind == MONTH else HOLDOUT_QUARTERS) if holdout is None else holdout
    t = model.as_of if until is None else moment(until)
    now = as_of(history, t)
    won_at = np.full(history.n_deals, np.datetime64("NaT"), "datetime64[s]")
    won = now.status == WON
    won_at[now.index[won]] = now.status_since[won]
    last = int(period_of((t + np.timedelta64(1, "s")).astype("datetime64[D]")[None], kind)[0]) - 1
    first = int(period_of(history.created_at.min().astype("datetime64[D]")[None], kind)[0]) if history.n_deals else last
    factor, _ = _period_factors(model, history, kind, won_at, range(max(first + 2, last - max_periods + 1), last + 1))
    # Too short a history to hold periods out: only the prior belief (the periods the model learned
    # from would make it look surer than it is).
    n, measured = 0, 0.0
    start = last - holdout + 1
    if holdout and start - first >= 4:
        older = fit_timing(history, np.datetime64(period_start(start, kind), "s") - np.timedelta64(1, "s"))
        _, (fitted, actual, chance) = _period_factors(older, history, kind, won_at, range(start, last + 1), factor)
        n = len(fitted)
        if n:
            measured = np.log1p(max(float(np.mean(((actual - fitted) ** 2 - chance) / fitted**2)), 0.0))
    # With few periods the measure is noisy: it is pooled with a prior belief of DEFAULT_SHOCK
    # worth SHOCK_PRIOR_PERIODS periods.
    variance = (n * measured + SHOCK_PRIOR_PERIODS * DEFAULT_SHOCK**2) / (n + SHOCK_PRIOR_PERIODS)
    shock = float(np.clip(np.sqrt(variance), MIN_SHOCK, MAX_SHOCK))
    return PeriodCalibration(factor=factor, shock=shock, periods=n)


def _period_factors(model, history, kind, won_at, targets, factor=None):
    """Per position, actual over expected money of the deals open at each target period's start
    (shrunk towards the overall ratio, itself shrunk towards 1); and per target with expected money,
    (expected × factor, actual, chance variance)."""
    from .periods import MONTH

    n_pos = 3 if kind == MONTH else 1
    k = len(model.cif) // (N_AGES * N_DUES)
    expected, actual, chance, position = [], [], [], []
    for target in targets:  # a loop over past periods
        start = np.datetime64(period_start(target, kind), "s")
        end = np.datetime64(period_start(target + 1, kind), "s")
        book = as_of(history, start - np.timedelta64(1, "s"))
        open_ = np.flatnonzero(book.status == OPEN)
        if not len(open_):
            continue
        group = deal_groups(book, k)[open_]
        days = period_windows(book.as_of, kind, target, 1)
        q = cif_at(model, group, np.full(len(open_), days[1])) - cif_at(model, group, np.full(len(open_), days[0]))
        a = np.nan_to_num(history.amount[book.index[open_]].astype(float))
        w = won_at[book.index[open_]]
        hit = ~np.isnat(w) & (w >= start) & (w < end)
        expected.append(float(np.sum(a * q)))
        actual.append(float(np.sum(a * hit)))
        chance.append(float(np.sum(a**2 * q * (1 - q))))
        position.append(target % n_pos)
    expected, actual, chance, position = map(np.array, (expected, actual, chance, position))
    if factor is None:
        factor = np.ones(n_pos)
        if len(expected) and expected.sum() > 0:
            overall = (actual.sum() / expected.sum() * len(expected) + 2.0) / (len(expected) + 2.0)
            for p in range(n_pos):
                at = (position == p) & (expected > 0)
                n = int(at.sum())
                factor[p] = (n * actual[at].sum() / expected[at].sum() + overall) / (n + 1.0) if n else overall
        factor = np.clip(factor, 0.5, 2.0)
    usable = expected > 0
    fitted = expected[usable] * factor[position[usable].astype(np.int64)]
    return factor, (fitted, actual[usable], chance[usable])
