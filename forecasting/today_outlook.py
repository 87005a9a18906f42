"""Today's learned and Monte Carlo figures of the snapshot, as the `forecast` command computes
them (`outlook`): the open deals' chances of being won in each period from the time-to-close
model (overdue and undated deals spread over the periods ahead, stale deals fading), the
calendar factors and spread of `timing.calibrate_periods`, and new business from deals not yet
created (`runrate`) as its own line.

What needs the history (the timing model, the calibration, the run-rate of new business) is fitted
on the refit schedule and kept with the stored fit (`ForecastFit.outlook`, `outlook_fit`); a
recompute only loads today's open deals and applies it (`level_outlook`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from . import methods, outlook, runrate, timing
from .history import OPEN, History, as_of as book_as_of, moment
from .periods import MONTH, QUARTER, period_end, period_of_date, period_start

# Periods of new business kept with a fit: the snapshot's horizon and one more, so a fit of
# yesterday still covers today's periods after a month ends.
KEPT_PERIODS = 4
KINDS = (MONTH, QUARTER)
ROUND = 6
# Open deals simulated one by one; beyond, on sums per owner group and currency given the shock.
EXACT_MAX_DEALS = 20_000


def outlook_fit(history: History, fitted_on: date) -> dict | None:
    """Everything today's snapshot needs from the history for the outlook, JSON-safe; None without
    any deal."""
    if not history.n_deals:
        return None
    t = moment(fitted_on)
    model = timing.fit_timing(history, t)
    book = book_as_of(history, t)
    fit = {
        "stage_ids": [int(s) for s in history.stage_ids],
        "cif": np.round(model.cif, ROUND).tolist(),
        "closed": int((book.status != OPEN).sum()),
        "calibration": {},
        "new_business": {},
    }
    currencies, cur = methods.currency_index(book.currency)
    owners = np.unique(book.owner_id)
    for kind in KINDS:
        calibration = timing.calibrate_periods(model, history, kind=kind)
        fit["calibration"][kind] = {"factor": calibration.factor.round(ROUND).tolist(), "shock": calibration.shock}
        first = period_of_date(fitted_on, kind)
        rest = _rest(fitted_on, kind, first)
        whole = runrate.fit_runrate(
            history, book, kind=kind, first_period=first, horizon=KEPT_PERIODS, currencies=currencies, currency=cur
        )
        per_owner = {}
        for owner in owners:  # a loop over the owners, each numpy over their deals
            mine = book.owner_id == owner
            sub = book.subset(mine)
            fitted = runrate.fit_runrate(
                history, sub, kind=kind, first_period=first, horizon=KEPT_PERIODS, currencies=currencies,
                currency=cur[mine],
            )  # fmt: skip
            expected = fitted.expected.copy()
            expected[:, 0] = expected[:, 0] / rest if rest > 0 else 0.0
            if expected.any():
                per_owner[str(int(owner))] = expected.round(2).tolist()
        pooled = whole.expected.copy()
        pooled[:, 0] = pooled[:, 0] / rest if rest > 0 else 0.0
        fit["new_business"][kind] = {
            "first_period": first,
            "currencies": currencies,
            "spread": whole.spread.round(ROUND).tolist(),
            "pipeline": pooled.round(2).tolist(),
            "owners": per_owner,
        }
    return fit


def _rest(day: date, kind: str, period: int) -> float:
    """The share of `period` still to come after `day` (as `runrate.fit_runrate` scales it)."""
    start = np.datetime64(period_start(period, kind), "D")
    end = np.datetime64(period_end(period, kind), "D")
    today = np.datetime64(day, "D")
    return float(np.clip((end - max(today + 1, start)).astype(int) / max((end - start).astype(int), 1), 0, 1))


@dataclass
class LevelOutlook:
    """Per level × currency × period of one calendar."""

    pipeline: np.ndarray  # expected from today's open deals
    new_business: np.ndarray  # expected from deals not yet created
    variance: np.ndarray  # of the learned figure
    simulated: dict  # the Monte Carlo's expected, p10, p50, p90, quota_chance (won included)


def _timing_model(fit: dict, stage_ids: np.ndarray, as_of) -> timing.TimingModel:
    """The stored model over today's stages (a stage added since the fit gets the pooled chance)."""
    stored = np.asarray(fit["cif"], float)
    per_stage = timing.N_AGES * timing.N_DUES
    fitted = stored.reshape(-1, per_stage, stored.shape[1])
    pooled = fitted.mean(axis=0) if len(fitted) else np.zeros((per_stage, timing.N_BINS + 1))
    index = {s: i for i, s in enumerate(fit["stage_ids"])}
    rows = [fitted[index[int(s)]] if int(s) in index else pooled for s in stage_ids]
    cif = np.concatenate(rows) if rows else np.zeros((0, timing.N_BINS + 1))
    return timing.TimingModel(
        as_of=as_of, cif=cif, deal_cif=cif, at_risk=np.zeros(len(cif)), shock=timing.DEFAULT_SHOCK, observations=0
    )


def landing(fit: dict, book, stage_model: methods.LearnedModel, stage_ids, *, kind: str, first: int, horizon: int):
    """Per open deal of `book`, the chance of being won in each period, as `outlook.Parts` gives it."""
    model = _timing_model(fit, stage_ids, book.as_of)
    # A deal's chances depend only on its group (stage, age in stage, due bucket): computed once
    # per group, then given to each deal (the same as `timing.landing`, at a fraction of the cost).
    k = len(model.cif) // (timing.N_AGES * timing.N_DUES)
    groups, of_deal = np.unique(timing.deal_groups(book, k), return_inverse=True)
    edges = timing.period_windows(book.as_of, kind, first, horizon)
    cum = np.stack([timing.cif_at(model, groups, np.full(len(groups), e)) for e in edges], axis=1)
    q = np.diff(cum, axis=1)[of_deal.reshape(-1)] if len(book) else np.zeros((0, horizon))
    factor = np.asarray(fit["calibration"][kind]["factor"], float)
    q = q * factor[np.arange(first, first + horizon) % len(factor)][None, :]
    q = q / np.maximum(q.sum(axis=1, keepdims=True), 1.0)
    evidence = fit["closed"] / (fit["closed"] + outlook.PRIOR_CLOSED_DEALS)
    if evidence < 1:
        # While few deals have closed, lean on the stage probabilities and the reps' dates.
        stage_p = stage_model.probability[book.stage] if len(stage_ids) else np.zeros(len(book))
        offset = methods.close_period_offsets(book, kind, first, horizon)
        dated = np.zeros_like(q)
        rows = np.flatnonzero(offset >= 0)
        dated[rows, offset[rows]] = stage_p[rows]
        q = evidence * q + (1 - evidence) * dated
    return q


def new_business(fit: dict, levels, currencies: list[str], *, kind: str, first: int, horizon: int, as_of: date):
    """Expected new business and its log-scale spread per level × currency × period: the pipeline's
    run-rate for the whole pipeline, the sum of its owners' for any other level (what `forecast
    --owner` gives for one owner)."""
    stored = fit["new_business"][kind]
    n_cur = len(currencies)
    expected = np.zeros((len(levels), n_cur, horizon))
    spread = np.full((n_cur, horizon), runrate.DEFAULT_SPREAD)
    code = [currencies.index(c) if c in currencies else -1 for c in stored["currencies"]]
    rest = _rest(as_of, kind, first)
    for j in range(horizon):
        at = first + j - stored["first_period"]
        if not 0 <= at < KEPT_PERIODS:
            continue  # a fit older than the periods it kept: no new business until the next refit
        scale = rest if j == 0 else 1.0
        for c_stored, c in enumerate(code):
            if c < 0:
                continue
            spread[c, j] = stored["spread"][c_stored][at]
            for n, level in enumerate(levels):
                if level.owner_ids is None:
                    expected[n, c, j] = scale * stored["pipeline"][c_stored][at]
                    continue
                owners = [str(o) for o in level.owner_ids if str(o) in stored["owners"]]
                expected[n, c, j] = scale * sum(stored["owners"][o][c_stored][at] for o in owners)
    return expected, spread


def level_outlook(
    *,
    fit: dict,
    book,
    owner_group: np.ndarray,
    group_levels: list[np.ndarray],
    levels,
    stage_model: methods.LearnedModel,
    stage_ids,
    currencies: list[str],
    currency: np.ndarray,
    kind: str,
    first: int,
    horizon: int,
    as_of: date,
    won: np.ndarray,
    quota: np.ndarray | None,
    simulations: int,
    seed: int,
) -> LevelOutlook:
    """The learned and Monte Carlo figures of every level for one calendar.

    `owner_group[i]` is the group of owners (those that count in the same levels) of deal i, and
    `group_levels[n]` the groups level n sums: one simulation serves every level, so in each future
    an owner's, a team's and the pipeline's totals add up."""
    n_cur, n_levels = len(currencies), len(levels)
    n_groups = int(owner_group.max()) + 1 if len(owner_group) else 1
    q = landing(fit, book, stage_model, stage_ids, kind=kind, first=first, horizon=horizon)
    a = np.nan_to_num(book.amount.astype(float))
    member = np.zeros((n_levels, n_groups))
    for n, groups in enumerate(group_levels):
        member[n, groups] = 1.0
    cell = owner_group * n_cur + currency  # (owner group, currency) of each deal

    def per_level(values):  # deals × periods → levels × currencies × periods
        sums = np.zeros((n_groups * n_cur, horizon))
        for j in range(horizon):
            sums[:, j] = np.bincount(cell, weights=values[:, j], minlength=n_groups * n_cur)
        return np.einsum("lg,gcp->lcp", member, sums.reshape(n_groups, n_cur, horizon))

    pipeline = per_level(a[:, None] * q)
    chance_variance = per_level(a[:, None] ** 2 * q * (1 - q))
    new, spread = new_business(fit, levels, currencies, kind=kind, first=first, horizon=horizon, as_of=as_of)
    shock = float(fit["calibration"][kind]["shock"])
    variance = chance_variance + np.expm1(shock**2) * pipeline**2 + np.expm1(spread[None] ** 2) * new**2

    rng = np.random.default_rng(seed)
    z = rng.standard_normal(simulations)
    factor = np.exp(shock * z - shock**2 / 2)
    totals = _simulate(q, a, cell, n_groups * n_cur, factor, rng, horizon)  # futures × cells × periods
    totals = np.einsum("lg,fgcp->flcp", member, totals.reshape(simulations, n_groups, n_cur, horizon))
    share = outlook.NEW_BUSINESS_SHOCK_SHARE
    z_new = share * z[:, None, None] + np.sqrt(1 - share**2) * rng.standard_normal((simulations, n_cur, horizon))
    drawn = np.exp(spread[None] * z_new - spread[None] ** 2 / 2)  # futures × currencies × periods
    totals = totals + new[None] * drawn[:, None]
    return LevelOutlook(
        pipeline=pipeline,
        new_business=new,
        variance=variance,
        simulated=methods.simulated_figures(totals, won, quota),
    )


def _simulate(q, a, cell, n_cells, factor, rng, horizon) -> np.ndarray:
    """futures × cells × periods won from the open deals, deal by deal (a deal is won in one
    period at most) up to `EXACT_MAX_DEALS` live deals, on sums beyond (as the snapshot's
    simulation of the stage probabilities, `montecarlo.EXACT_MONTECARLO_MAX_DEALS`)."""
    n = len(factor)
    out = np.zeros((n, n_cells, horizon))
    live = np.flatnonzero((q.sum(axis=1) > 0) & (a > 0))
    if not len(live):
        return out
    if len(live) > EXACT_MAX_DEALS:
        f = factor[:, None]
        for j in range(horizon):
            s1 = np.bincount(cell[live], weights=a[live] * q[live, j], minlength=n_cells)
            s2 = np.bincount(cell[live], weights=a[live] ** 2 * q[live, j], minlength=n_cells)
            s2q = np.bincount(cell[live], weights=(a[live] * q[live, j]) ** 2, minlength=n_cells)
            mean = f * s1[None]
            var = np.maximum(f * s2[None] - f**2 * s2q[None], 0.0)
            out[:, :, j] = np.maximum(mean + np.sqrt(var) * rng.standard_normal(mean.shape), 0.0)
        return out
    cumulative = np.cumsum(q[live], axis=1)
    live_cell, live_amount = cell[live], a[live]
    block = max(1, outlook.BLOCK_CELLS // len(live))
    for start in range(0, n, block):  # blocks of futures; each is numpy over futures × deals
        f = factor[start : start + block]
        u = rng.random((len(f), len(live)))
        below = np.zeros_like(u, dtype=bool)
        for j in range(horizon):
            reach = u < np.minimum(f[:, None] * cumulative[None, :, j], 1.0)
            # Few deals are won in a future: summing the wins is far cheaper than a product with
            # every deal's amount.
            future, deal = np.nonzero(reach & ~below)
            won = np.bincount(
                future * n_cells + live_cell[deal], weights=live_amount[deal], minlength=len(f) * n_cells
            )
            out[start : start + len(f), :, j] = won.reshape(len(f), n_cells)
            below |= reach
    return out
