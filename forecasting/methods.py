"""The forecasting methods: pure functions over a `History` and the `Book` rebuilt as of a date.

- weighted: amount × probability (the deal's override, else the admin's stage probability).
- learned: amount × the probability that a deal in its stage ends won, learned from the stage
  history with an absorbing Markov chain (skipped and backward moves count as what they are) and
  shrunk towards the admin's probability by a Beta prior while few deals have closed.
- montecarlo: many simulated futures of the open deals with the learned probabilities, close
  dates slipping as they slipped before, and a shared shock (a one-factor Gaussian copula) so
  that deals win and lose together as they do in good and bad quarters.

Amounts in different currencies are never added: every result is per currency and period.
Nothing here touches the database; no Python loop runs per deal or per simulated future.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from statistics import NormalDist

import numpy as np

from .history import CATEGORIES, LOST, OPEN, WON, Book, History, moment
from .periods import period_label, period_lookup, period_of

CENT = Decimal("0.01")
# Pseudo-deals of the Beta prior: with this many closed deals through a stage, the learned and
# the admin's probability weigh the same.
DEFAULT_PRIOR_STRENGTH = 12.0
DEFAULT_SIMULATIONS = 1000
# Without enough closed months to measure how much outcomes move together, assume this much.
DEFAULT_CORRELATION = 0.15
MIN_CORRELATION, MAX_CORRELATION = 0.02, 0.6
MIN_SLIP_SAMPLES = 15
# Simulated futures are drawn in blocks so that memory stays near BLOCK_CELLS floats.
BLOCK_CELLS = 2000000
Z90 = 1.2815515655446004  # the 90 % quantile of the standard normal


def money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_UP)


# --- Results ------------------------------------------------------------------------------------


@dataclass
class PeriodForecast:
    """Per currency (rows) and period (columns): won so far, expected, and the P10–P90 range."""

    method: str
    kind: str
    first_period: int
    currencies: list[str]
    won: np.ndarray
    expected: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    quota_chance: np.ndarray | None = None
    deal_probability: np.ndarray | None = None  # per deal of the book (won 1, lost 0)
    extra: dict = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return self.expected.shape[1]

    def period_labels(self) -> list[str]:
        return [period_label(self.first_period + i, self.kind) for i in range(self.horizon)]

    def rows(self, *, empty_currency: str | None = None) -> list[dict]:
        """One row per period and currency, amounts as Decimal. Without any deal, one row of
        zeros per period in `empty_currency` (when given), so that every period is listed."""
        if not self.currencies and empty_currency:
            zero = money(0)
            return [
                {
                    "period": label,
                    "currency": empty_currency,
                    "won": zero,
                    "expected": zero,
                    "p10": zero,
                    "p50": zero,
                    "p90": zero,
                }
                for label in self.period_labels()
            ]
        rows = []
        for j, label in enumerate(self.period_labels()):
            for c, currency in enumerate(self.currencies):
                row = {
                    "period": label,
                    "currency": currency,
                    "won": money(self.won[c, j]),
                    "expected": money(self.expected[c, j]),
                    "p10": money(self.p10[c, j]),
                    "p50": money(self.p50[c, j]),
                    "p90": money(self.p90[c, j]),
                }
                if self.quota_chance is not None and not np.isnan(self.quota_chance[c, j]):
                    row["quota_chance"] = round(float(self.quota_chance[c, j]), 4)
                rows.append(row)
        return rows


def currency_index(currency: np.ndarray) -> tuple[list[str], np.ndarray]:
    names, codes = np.unique(currency.astype(str), return_inverse=True)
    return [str(n) for n in names], codes.astype(np.int64)


def close_period_offsets(book: Book, kind: str, first_period: int, horizon: int) -> np.ndarray:
    """For each deal, the period (0..horizon-1) its money lands in, or -1.

    Open deals land in the period of their expected close; overdue ones in the first period;
    undated ones nowhere. Won deals land in the period they were won in. Lost deals nowhere."""
    expected = period_of(book.expected_close, kind)
    expected = np.where(expected >= 0, np.maximum(expected, first_period), -1)
    won = period_of(book.status_since.astype("datetime64[D]"), kind)
    period = np.where(book.status == OPEN, expected, np.where(book.status == WON, won, -1))
    offset = period - first_period
    return np.where((period >= 0) & (offset >= 0) & (offset < horizon), offset, -1)


def _group_sum(values: np.ndarray, cur: np.ndarray, offset: np.ndarray, n_cur: int, horizon: int) -> np.ndarray:
    keep = offset >= 0
    key = cur[keep] * horizon + offset[keep]
    sums = np.bincount(key, weights=values[keep], minlength=n_cur * horizon)
    return sums.reshape(n_cur, horizon)


def _amounts(book: Book) -> np.ndarray:
    return np.nan_to_num(book.amount.astype(float), nan=0.0)


def expected_forecast(
    book: Book, probability: np.ndarray, *, method: str, kind: str, first_period: int, horizon: int
) -> PeriodForecast:
    """Won so far plus Σ amount × probability of the open deals, per currency and period.

    The range assumes deals are independent (a normal approximation of the sum of Bernoulli
    outcomes): an honest lower bound on uncertainty, and what Monte Carlo improves on."""
    currencies, cur = currency_index(book.currency)
    n_cur = len(currencies)
    offset = close_period_offsets(book, kind, first_period, horizon)
    amount = _amounts(book)
    is_open = book.status == OPEN
    is_won = book.status == WON
    p = np.where(is_open, probability, np.where(is_won, 1.0, 0.0))
    won = _group_sum(np.where(is_won, amount, 0.0), cur, offset, n_cur, horizon)
    mean = _group_sum(np.where(is_open, amount * p, 0.0), cur, offset, n_cur, horizon)
    var = _group_sum(np.where(is_open, amount**2 * p * (1 - p), 0.0), cur, offset, n_cur, horizon)
    most = won + _group_sum(np.where(is_open, amount, 0.0), cur, offset, n_cur, horizon)
    sd = np.sqrt(var)
    expected = won + mean
    return PeriodForecast(
        method=method,
        kind=kind,
        first_period=first_period,
        currencies=currencies,
        won=won,
        expected=expected,
        p10=np.maximum(won, expected - Z90 * sd),
        p50=expected,
        p90=np.minimum(most, expected + Z90 * sd),
        deal_probability=p,
    )


# --- Weighted ------------------------------------------------------------------------------------


def weighted_probability(history: History, book: Book) -> np.ndarray:
    """The deal's own probability override, else its stage's configured probability."""
    stage_p = history.stage_probability[book.stage]
    return np.where(np.isnan(book.probability), stage_p, book.probability)


def weighted(history: History, book: Book, *, kind: str, first_period: int, horizon: int) -> PeriodForecast:
    return expected_forecast(
        book,
        weighted_probability(history, book),
        method="weighted",
        kind=kind,
        first_period=first_period,
        horizon=horizon,
    )


# --- Learned ----------------------------------------------------------------------------------


@dataclass
class LearnedModel:
    """Win probabilities per stage (board order) learned from the history up to `as_of`."""

    as_of: np.datetime64
    probability: np.ndarray  # shrunk towards the admin's, used by the forecasts
    markov: np.ndarray  # what the history alone says (NaN where a stage was never left)
    closed_deals: np.ndarray  # closed deals that passed through each stage: the evidence
    configured: np.ndarray  # the admin's probabilities
    transitions: np.ndarray  # counts; rows and columns: stages, then won, then lost
    prior_strength: float
    correlation: float = DEFAULT_CORRELATION
    slips: list[np.ndarray] = field(default_factory=list)  # days from expected to actual close
    pooled_slips: np.ndarray = field(default_factory=lambda: np.zeros(0))


def deal_states(history: History, until: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """Each deal's sequence of states up to `until`: stage index, or won (k) or lost (k + 1).

    A close that was undone (a lost deal reopened, a won deal moved back) is dropped, as if the
    deal had never left the pipeline; repeated states collapse into one."""
    k = len(history.stage_ids)
    seen = history.sc_at <= until
    deal = history.sc_deal[seen]
    status = history.sc_status[seen]
    stage = history.sc_stage[seen]
    state = np.where((status == WON) | history.stage_is_won[stage], k, np.where(status == LOST, k + 1, stage)).astype(
        np.int64
    )
    followed = np.r_[deal[1:] == deal[:-1], False] if len(deal) else np.zeros(0, bool)
    keep = ~((state >= k) & followed)
    deal, state = deal[keep], state[keep]
    if len(deal):
        repeat = np.r_[False, (deal[1:] == deal[:-1]) & (state[1:] == state[:-1])]
        deal, state = deal[~repeat], state[~repeat]
    return deal, state


def absorption_probabilities(transitions: np.ndarray, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(ends won) from each stage of an absorbing chain given by transition counts.

    Stages never left have no evidence: they are treated as closing at `fallback`, so that
    stages leading into them still get a sensible value. Returns (probability, has_evidence)."""
    k = transitions.shape[0] - 2
    counts = transitions[:k].astype(float)
    out = counts.sum(axis=1)
    evidence = out > 0
    rows = np.zeros_like(counts)
    rows[evidence] = counts[evidence] / out[evidence, None]
    rows[~evidence, k] = fallback[~evidence]
    rows[~evidence, k + 1] = 1 - fallback[~evidence]
    q, r = rows[:, :k], rows[:, k:]
    try:
        absorbed = np.linalg.solve(np.eye(k) - q, r)
    except np.linalg.LinAlgError:  # a closed loop with no way out: no evidence either
        absorbed = np.linalg.lstsq(np.eye(k) - q, r, rcond=None)[0]
    return np.clip(absorbed[:, 0], 0.0, 1.0), evidence


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised (Abramowitz–Stegun 7.1.26, error below 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def _norm_pdf(x):
    return np.exp(-0.5 * np.square(x)) / np.sqrt(2 * np.pi)


def estimate_correlation(history: History, until: np.datetime64, *, min_months: int = 6) -> float:
    """How strongly outcomes move together: the excess spread of monthly win rates over what
    independent deals would show (a beta-binomial intraclass correlation), turned into the latent
    correlation of the one-factor Gaussian copula used by the Monte Carlo."""
    deal, state = deal_states(history, until)
    k = len(history.stage_ids)
    if len(deal) < 30:
        return DEFAULT_CORRELATION
    last = np.r_[deal[1:] != deal[:-1], True]
    closed = last & (state >= k)
    won = (state[closed] == k).astype(float)
    # A deal's close time is the time of its final row.
    seen = history.sc_at <= until
    rows_deal, rows_at = history.sc_deal[seen], history.sc_at[seen]
    final = np.r_[rows_deal[1:] != rows_deal[:-1], True]
    final_deal, final_at = rows_deal[final], rows_at[final]
    when = final_at[np.searchsorted(final_deal, deal[closed])]
    if len(won) < 30:
        return DEFAULT_CORRELATION
    month = when.astype("datetime64[M]").astype(np.int64)
    months, idx = np.unique(month, return_inverse=True)
    n = np.bincount(idx).astype(float)
    wins = np.bincount(idx, weights=won)
    ok = n >= 5
    if ok.sum() < min_months:
        return DEFAULT_CORRELATION
    p = won.mean()
    if p <= 0 or p >= 1:
        return DEFAULT_CORRELATION
    rate = wins[ok] / n[ok]
    weights = n[ok]
    between = np.sum(weights * (rate - p) ** 2) / weights.sum()
    binomial = p * (1 - p) * ok.sum() / weights.sum()
    icc = max(0.0, between - binomial) / (p * (1 - p))
    threshold = NormalDist().inv_cdf(p)
    latent = icc * p * (1 - p) / _norm_pdf(threshold) ** 2
    return float(np.clip(latent, MIN_CORRELATION, MAX_CORRELATION))


def close_slips(history: History, until: np.datetime64) -> tuple[list[np.ndarray], np.ndarray]:
    """Days between the expected close known when a deal entered a stage and the day it was won,
    per stage, from deals won by `until`."""
    k = len(history.stage_ids)
    seen = history.sc_at <= until
    deal, at, stage, status = (
        history.sc_deal[seen],
        history.sc_at[seen],
        history.sc_stage[seen],
        history.sc_status[seen],
    )
    if len(deal) == 0:
        return [np.zeros(0) for _ in range(k)], np.zeros(0)
    last = np.r_[deal[1:] != deal[:-1], True]
    won_deals = deal[last & (status == WON)]
    won_at = at[last & (status == WON)]
    pos = np.minimum(np.searchsorted(won_deals, deal), max(len(won_deals) - 1, 0))
    in_won = won_deals[pos] == deal if len(won_deals) else np.zeros(len(deal), bool)
    rows = in_won & (status == OPEN)
    if not rows.any():
        return [np.zeros(0) for _ in range(k)], np.zeros(0)
    expected = history.field_values_at("expected_close", deal[rows], at[rows])
    closed_day = won_at[pos[rows]].astype("datetime64[D]")
    slip = (closed_day - expected).astype("timedelta64[D]").astype(float)
    known = ~np.isnat(expected)
    slip, stage_of = slip[known], stage[rows][known]
    return [slip[stage_of == s] for s in range(k)], slip


def fit_learned(history: History, until, *, prior_strength: float = DEFAULT_PRIOR_STRENGTH) -> LearnedModel:
    """Learn the win probability of each stage from everything recorded up to `until`."""
    t = moment(until)
    k = len(history.stage_ids)
    deal, state = deal_states(history, t)
    transitions = np.zeros((k + 2, k + 2), np.int64)
    if len(deal) > 1:
        step = deal[1:] == deal[:-1]
        np.add.at(transitions, (state[:-1][step], state[1:][step]), 1)
    configured = history.stage_probability.astype(float)
    markov, evidence = absorption_probabilities(transitions, configured)
    markov = np.where(history.stage_is_won, 1.0, markov)

    # Evidence per stage: closed deals that passed through it.
    closed_deals = np.zeros(k)
    if len(deal):
        last = np.r_[deal[1:] != deal[:-1], True]
        final_state = np.empty(deal.max() + 1, np.int64)
        final_state[deal[last]] = state[last]
        closed = final_state[deal] >= k
        visits = np.unique(np.stack([deal[closed], state[closed]]), axis=1) if closed.any() else np.zeros((2, 0), int)
        visits = visits[:, visits[1] < k]
        closed_deals = np.bincount(visits[1], minlength=k).astype(float)
    raw = np.where(evidence | history.stage_is_won, markov, np.nan)
    shrunk = (closed_deals * markov + prior_strength * configured) / (closed_deals + prior_strength)
    probability = np.where(history.stage_is_won, 1.0, shrunk)
    slips, pooled = close_slips(history, t)
    return LearnedModel(
        as_of=t,
        probability=probability,
        markov=raw,
        closed_deals=closed_deals,
        configured=configured,
        transitions=transitions,
        prior_strength=prior_strength,
        correlation=estimate_correlation(history, t),
        slips=slips,
        pooled_slips=pooled,
    )


def learned(model: LearnedModel, book: Book, *, kind: str, first_period: int, horizon: int) -> PeriodForecast:
    return expected_forecast(
        book, model.probability[book.stage], method="learned", kind=kind, first_period=first_period, horizon=horizon
    )


# --- Monte Carlo ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The periods a simulation sums into: `horizon` periods of `kind` from `first_period`."""

    kind: str
    first_period: int
    horizon: int


def simulate_open(
    model: LearnedModel,
    book: Book,
    *,
    calendars: list[Calendar],
    currency: np.ndarray,
    n_currencies: int,
    group: np.ndarray | None = None,
    levels: list[np.ndarray] | None = None,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    correlation: float | None = None,
) -> list[np.ndarray]:
    """The money the open deals of `book` bring in `simulations` futures, simulated once for every
    level and calendar: per calendar, an array futures × levels × currencies × periods.

    `currency` codes each deal's currency (0..n_currencies-1). `group` puts each deal in a group
    (0..G-1, e.g. its owner) and `levels[l]` lists the groups summed in level l (e.g. the pipeline,
    a team, an owner); without them there is one level of every deal. Every level and calendar
    is summed from the same futures (the same shock, wins and close dates), so in each future a
    level is exactly the sum of its groups."""
    rng = np.random.default_rng(seed)
    rho = model.correlation if correlation is None else correlation
    amount = _amounts(book)
    group = np.zeros(len(amount), np.int64) if group is None else np.asarray(group, np.int64)
    n_groups = int(group.max()) + 1 if len(group) else 1
    levels = [np.arange(n_groups)] if levels is None else [np.asarray(g, np.int64) for g in levels]
    pair_level = np.concatenate([np.full(len(g), n, np.int64) for n, g in enumerate(levels)] or [np.zeros(0, np.int64)])
    pair_group = np.concatenate(levels or [np.zeros(0, np.int64)])
    totals = [np.zeros((simulations, len(levels), n_currencies, c.horizon)) for c in calendars]

    live = (book.status == OPEN) & (amount > 0) & ~np.isnat(book.expected_close)
    first_day = book.as_of.astype("datetime64[D]")
    lookups = [period_lookup(first_day, c.first_period, c.horizon, c.kind) for c in calendars]
    span = max((len(lookup) for lookup in lookups), default=0)
    if not live.any() or span == 0 or not len(levels):
        return totals
    # Each day offset 0..span (the last: after every horizon) has a period per calendar, `horizon`
    # when beyond it; days with the same periods in every calendar share a slot.
    periods_of_day = np.stack(
        [np.r_[lookup, np.full(span + 1 - len(lookup), c.horizon)] for lookup, c in zip(lookups, calendars)], axis=1
    )
    slots, slot_of_day = np.unique(periods_of_day, axis=0, return_inverse=True)
    slot_of_day = slot_of_day.reshape(-1).astype(np.int64)
    n_slots = len(slots)

    # The copula: a deal is won when √ρ·Z + √(1−ρ)·ε < Φ⁻¹(p); given Z, that has chance
    # Φ((Φ⁻¹(p) − √ρ·Z) / √(1−ρ)). Deals are ordered by probability so that each distinct
    # probability is one block of columns, compared against its chance without a gather.
    p = model.probability[book.stage]
    idx = np.flatnonzero(live)
    uniq, u_idx = np.unique(np.clip(p[idx], 1e-9, 1 - 1e-9), return_inverse=True)
    order = np.argsort(u_idx, kind="stable")
    idx, u_idx = idx[order], u_idx[order]
    bounds = np.searchsorted(u_idx, np.arange(len(uniq) + 1))
    a = amount[idx]
    cell = group[idx] * n_currencies + np.asarray(currency, np.int64)[idx]  # the deal's group and currency
    due = (book.expected_close[idx] - first_day).astype(np.int64)
    threshold = np.array([NormalDist().inv_cdf(float(x)) for x in uniq])
    flat, offset_of, count_of = _slip_table(model, len(model.probability))
    slip_offset, slip_count = offset_of[book.stage[idx]], count_of[book.stage[idx]]  # the slips of the deal's stage
    m = len(idx)
    cells = n_groups * n_currencies * n_slots
    # Memory stays near BLOCK_CELLS deal-futures (and as many sums) per block.
    block = max(1, min(simulations, BLOCK_CELLS // m, BLOCK_CELLS // cells))
    for start in range(0, simulations, block):
        n = min(block, simulations - start)
        z = rng.standard_normal(n)
        chance = _phi((threshold[None, :] - np.sqrt(rho) * z[:, None]) / np.sqrt(1 - rho))
        # 16-bit uniforms: a chance is resolved to 1/65,536, far below the sampling error.
        bar = np.rint(chance * 65536).clip(0, 65535).astype(np.uint16)
        draws = rng.integers(0, 65536, size=(n, m), dtype=np.uint16)
        wins = np.empty((n, m), bool)
        for g in range(len(uniq)):
            np.less(draws[:, bounds[g] : bounds[g + 1]], bar[:, g : g + 1], out=wins[:, bounds[g] : bounds[g + 1]])
        del draws
        flat_won = np.flatnonzero(wins)  # much faster than a two-dimensional nonzero
        del wins
        sim = flat_won // m
        col = flat_won - sim * m
        del flat_won
        # Only won deals need a close date: the expected one plus a slip seen in their stage.
        count = slip_count[col]
        drawn = (rng.random(len(col), dtype=np.float32) * count).astype(np.int64)
        pick = slip_offset[col] + np.minimum(drawn, count - 1)
        day = np.clip(due[col] + flat[pick], 0, span)
        del count, drawn, pick
        key = (sim * (n_groups * n_currencies) + cell[col]) * n_slots + slot_of_day[day]
        del sim, day
        sums = np.bincount(key, weights=a[col], minlength=n * cells).reshape(n, n_groups, n_currencies, n_slots)
        del key, col
        by_slot = np.moveaxis(sums, -1, 0)  # slots × futures × groups × currencies
        for c, calendar in enumerate(calendars):
            period = slots[:, c]
            inside = period < calendar.horizon
            per = np.zeros((calendar.horizon, n, n_groups, n_currencies))
            np.add.at(per, period[inside], by_slot[inside])
            per_group = np.moveaxis(per, 2, 0)  # groups × periods × futures × currencies
            per_level = np.zeros((len(levels), calendar.horizon, n, n_currencies))
            np.add.at(per_level, pair_level, per_group[pair_group])
            totals[c][start : start + n] = per_level.transpose(2, 0, 3, 1)
    return totals


def simulated_figures(totals: np.ndarray, won: np.ndarray, quota: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Expected, P10, P50, P90 (and the chance of reaching `quota`, NaN where there is none) of
    simulated totals (futures first) plus what was won."""
    totals = totals + np.asarray(won, float)[None]
    p10, p50, p90 = np.percentile(totals, [10, 50, 90], axis=0)
    result = {"expected": totals.mean(axis=0), "p10": p10, "p50": p50, "p90": p90, "quota_chance": None}
    if quota is not None:
        target = np.asarray(quota, float)
        with np.errstate(invalid="ignore"):
            result["quota_chance"] = np.where(np.isnan(target), np.nan, (totals >= target[None]).mean(axis=0))
    return result


def montecarlo(
    model: LearnedModel,
    book: Book,
    *,
    kind: str,
    first_period: int,
    horizon: int,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota: np.ndarray | dict | None = None,
    correlation: float | None = None,
) -> PeriodForecast:
    """Simulate `simulations` futures of the open deals; P10/P50/P90 of the money won per
    currency and period, and the chance of reaching `quota` ({currency: amount per period} or
    an array currencies × periods)."""
    rho = model.correlation if correlation is None else correlation
    currencies, cur = currency_index(book.currency)
    n_cur = len(currencies)
    amount = _amounts(book)
    offset = close_period_offsets(book, kind, first_period, horizon)
    is_won = book.status == WON
    won = _group_sum(np.where(is_won, amount, 0.0), cur, offset, n_cur, horizon)
    (totals,) = simulate_open(
        model,
        book,
        calendars=[Calendar(kind, first_period, horizon)],
        currency=cur,
        n_currencies=n_cur,
        simulations=simulations,
        seed=seed,
        correlation=rho,
    )
    figures = simulated_figures(
        totals[:, 0], won, None if quota is None else _quota_array(quota, currencies, horizon)
    )
    p = model.probability[book.stage]
    deal_p = np.where(book.status == OPEN, p, np.where(is_won, 1.0, 0.0))
    return PeriodForecast(
        method="montecarlo",
        kind=kind,
        first_period=first_period,
        currencies=currencies,
        won=won,
        expected=figures["expected"],
        p10=figures["p10"],
        p50=figures["p50"],
        p90=figures["p90"],
        quota_chance=figures["quota_chance"],
        deal_probability=deal_p,
        extra={"simulations": simulations, "correlation": rho},
    )


def _slip_table(model: LearnedModel, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every stage's slips (days) in one flat array, with each stage's offset and count. A stage
    with too few won deals behind it uses the pooled slips; without any, dates do not slip."""
    pooled = model.pooled_slips if len(model.pooled_slips) >= MIN_SLIP_SAMPLES else np.zeros(1)
    tables = []
    for stage in range(k):
        own = model.slips[stage] if stage < len(model.slips) else np.zeros(0)
        tables.append(own if len(own) >= MIN_SLIP_SAMPLES else pooled)
    counts = np.array([len(t) for t in tables], np.int64)
    offsets = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    return np.rint(np.concatenate(tables)).astype(np.int64), offsets, counts


# --- A stored fit ---------------------------------------------------------------------------------


def _histogram(days: np.ndarray) -> list[list[int]]:
    """Slips in whole days (as the simulation uses them) as [[day, count], …], sorted by day."""
    values, counts = np.unique(np.rint(np.asarray(days, float)).astype(np.int64), return_counts=True)
    return [[int(v), int(c)] for v, c in zip(values, counts)]


def _from_histogram(pairs) -> np.ndarray:
    if not pairs:
        return np.zeros(0)
    days, counts = np.array(pairs, np.int64).T
    return np.repeat(days, counts).astype(float)


def model_parameters(model: LearnedModel, stage_ids) -> dict:
    """Everything the daily snapshot needs from a fit, JSON-safe: the learned probability and the
    close-date slips (a histogram in days) of each stage by id, the pooled slips and the
    correlation of outcomes."""
    stages = []
    for i, stage_id in enumerate(stage_ids):
        slips = model.slips[i] if i < len(model.slips) else np.zeros(0)
        stages.append(
            {
                "id": int(stage_id),
                "learned": round(float(model.probability[i]), 6),
                "configured": round(float(model.configured[i]), 6),
                "closed_deals": int(model.closed_deals[i]),
                "slips": _histogram(slips),
            }
        )
    return {
        "stages": stages,
        "pooled_slips": _histogram(model.pooled_slips),
        "correlation": round(float(model.correlation), 6),
        "prior_strength": float(model.prior_strength),
    }


def model_from_parameters(parameters: dict, stage_ids, configured: np.ndarray, is_won: np.ndarray) -> LearnedModel:
    """The `LearnedModel` of a stored fit for the pipeline's stages as they are now (board order).
    A stage added since the fit has no evidence yet: it uses its configured probability."""
    by_id = {s["id"]: s for s in parameters.get("stages", [])}
    k = len(stage_ids)
    probability = np.array(
        [by_id[int(i)]["learned"] if int(i) in by_id else configured[n] for n, i in enumerate(stage_ids)], float
    )
    probability = np.where(is_won, 1.0, probability) if k else probability
    closed = np.array([by_id[int(i)]["closed_deals"] if int(i) in by_id else 0 for i in stage_ids], float)
    return LearnedModel(
        as_of=np.datetime64("NaT", "s"),
        probability=probability.astype(float),
        markov=np.full(k, np.nan),
        closed_deals=closed,
        configured=np.asarray(configured, float),
        transitions=np.zeros((k + 2, k + 2), np.int64),
        prior_strength=float(parameters.get("prior_strength", DEFAULT_PRIOR_STRENGTH)),
        correlation=float(parameters.get("correlation", DEFAULT_CORRELATION)),
        slips=[_from_histogram(by_id[int(i)]["slips"]) if int(i) in by_id else np.zeros(0) for i in stage_ids],
        pooled_slips=_from_histogram(parameters.get("pooled_slips", [])),
    )


# --- Monte Carlo on aggregates -------------------------------------------------------------------


def landing_chances(
    model: LearnedModel,
    stage: np.ndarray,
    due: np.ndarray,
    *,
    as_of_day: np.datetime64,
    kind: str,
    first_period: int,
    horizon: int,
) -> np.ndarray:
    """For deals of `stage` expected to close `due` days after `as_of_day`: the chance (rows) that
    a won one lands in each period (columns), with the slips the simulation draws from. The rest
    lands beyond the horizon."""
    stage, due = np.asarray(stage, np.int64), np.asarray(due, np.int64)
    out = np.zeros((len(stage), horizon))
    lookup = period_lookup(np.datetime64(as_of_day, "D"), first_period, horizon, kind)
    span = len(lookup)
    if span == 0 or len(stage) == 0:
        return out
    beyond = np.r_[lookup, horizon].astype(np.int64)
    flat, offset_of, count_of = _slip_table(model, len(model.probability))
    for s in np.unique(stage):
        rows = np.flatnonzero(stage == s)
        slips = flat[offset_of[s] : offset_of[s] + count_of[s]]
        values, counts = np.unique(slips, return_counts=True)
        days, inverse = np.unique(due[rows], return_inverse=True)
        landed = beyond[np.clip(days[:, None] + values[None, :], 0, span)]  # due days × slip values
        weight = counts / counts.sum()
        chance = np.stack([((landed == j) * weight).sum(axis=1) for j in range(horizon)], axis=1)
        out[rows] = chance[inverse]
    return out


def conditional_chances(probability: np.ndarray, z: np.ndarray, correlation: float) -> np.ndarray:
    """P(won | shared shock Z) for each future (rows) and probability (columns): the one-factor
    Gaussian copula of `montecarlo`."""
    p = np.clip(np.asarray(probability, float), 1e-9, 1 - 1e-9)
    threshold = np.array([NormalDist().inv_cdf(float(x)) for x in p])
    rho = float(correlation)
    return _phi((threshold[None, :] - np.sqrt(rho) * np.asarray(z)[:, None]) / np.sqrt(1 - rho))


def montecarlo_aggregate(
    probability: np.ndarray,
    correlation: float,
    s1: np.ndarray,
    s2: np.ndarray,
    s2q: np.ndarray,
    *,
    won: np.ndarray | None = None,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The Monte Carlo of `montecarlo` on sums instead of deals, for pipelines too big to simulate
    deal by deal.

    `s1`, `s2`, `s2q` have the shape (cells…, stages): per cell (level, currency, period) and
    stage, Σ q·amount, Σ q·amount² and Σ q²·amount² over the open deals, q being the chance that
    a deal won lands in that cell's period (`landing_chances`). Given the shared shock Z of a
    future, deals are won independently with p'(Z) (`conditional_chances`), so a cell's total is
    a sum of many independent terms with mean Σ p'·s1 and variance Σ (p'·s2 − p'²·s2q): it is
    drawn as a normal (clipped at zero). The cost depends on the cells, not on the deals.

    Returns expected, p10, p50, p90 (and quota_chance when `quota` is given), shaped like a
    cell, each including `won`."""
    rng = np.random.default_rng(seed)
    s1, s2, s2q = (np.asarray(x, float) for x in (s1, s2, s2q))
    cells = s1.shape[:-1]
    k = s1.shape[-1]
    flat1, flat2, flat2q = (x.reshape(-1, k) for x in (s1, s2, s2q))
    z = rng.standard_normal(simulations)
    chance = conditional_chances(probability, z, correlation)  # futures × stages
    mean = chance @ flat1.T  # futures × cells
    variance = np.maximum(chance @ flat2.T - np.square(chance) @ flat2q.T, 0.0)
    totals = np.maximum(mean + np.sqrt(variance) * rng.standard_normal(mean.shape), 0.0)
    totals = totals.reshape((simulations, *cells))
    if won is not None:
        totals = totals + np.asarray(won, float)[None]
    p10, p50, p90 = np.percentile(totals, [10, 50, 90], axis=0)
    result = {"expected": totals.mean(axis=0), "p10": p10, "p50": p50, "p90": p90}
    if quota is not None:
        target = np.asarray(quota, float)
        with np.errstate(invalid="ignore"):
            result["quota_chance"] = np.where(np.isnan(target), np.nan, (totals >= target[None]).mean(axis=0))
    return result


def _quota_array(quota, currencies: list[str], horizon: int) -> np.ndarray:
    if isinstance(quota, dict):
        target = np.full((len(currencies), horizon), np.nan)
        for c, name in enumerate(currencies):
            if name in quota:
                target[c] = np.broadcast_to(np.asarray(quota[name], float), (horizon,))
        return target
    return np.asarray(quota, float)


# --- Forecast categories -------------------------------------------------------------------------


def category_totals(book: Book, *, kind: str, first_period: int, horizon: int) -> dict[str, PeriodForecast]:
    """The open amount per forecast category, currency and period (each summed on its own)."""
    currencies, cur = currency_index(book.currency)
    offset = close_period_offsets(book, kind, first_period, horizon)
    amount = _amounts(book)
    result = {}
    for code, name in enumerate(CATEGORIES):
        mask = (book.status == OPEN) & (book.category == code)
        total = _group_sum(np.where(mask, amount, 0.0), cur, offset, len(currencies), horizon)
        zero = np.zeros_like(total)
        result[name] = PeriodForecast(name, kind, first_period, currencies, zero, total, total, total, total)
    return result


# --- Accuracy ------------------------------------------------------------------------------------


def wape(forecast: np.ndarray, actual: np.ndarray) -> float:
    total = np.abs(actual).sum()
    return float(np.abs(forecast - actual).sum() / total) if total else float("nan")


def bias(forecast: np.ndarray, actual: np.ndarray) -> float:
    total = np.abs(actual).sum()
    return float((forecast - actual).sum() / total) if total else float("nan")


def brier(probability: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((probability - outcome) ** 2)) if len(probability) else float("nan")


def calibration(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted versus actual win rate in equal-width probability bins (empty bins left out)."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.floor(probability * bins + 1e-9).astype(int), 0, bins - 1)  # [0.6, 0.7) holds 0.6
    n = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=probability, minlength=bins)
    actual = np.bincount(which, weights=outcome.astype(float), minlength=bins)
    return [
        {
            "bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}",
            "deals": int(n[b]),
            "predicted": float(predicted[b] / n[b]),
            "actual": float(actual[b] / n[b]),
        }
        for b in range(bins)
        if n[b]
    ]
