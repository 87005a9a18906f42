"""New business not yet in the pipeline: what deals created after today will have won by then.

A pipeline-only forecast cannot see a deal that does not exist yet, yet in many companies a large
share of a month's wins comes from deals created and won within that month. This component
learns, from the history up to today, how much money deals created after the end of a period were
won in each of the following periods, and forecasts the same for the periods ahead:

- per offset (the next period, the one after, …) and currency;
- at a recent level (the mean of the last `LEVEL_PERIODS` periods: a year of months, six
  quarters), de-seasonalised;
- with a season by position of the period (month of the quarter for months), shrunk towards no
  season while few periods show it;
- with its own uncertainty: the log-scale spread of the past periods around that level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .history import WON, Book, History
from .periods import MONTH, QUARTER, period_end, period_of, period_start

# A month's new business carries its own luck: a year of months gives a steadier level than half
# a year (backtested on real-shaped histories); quarters keep six, which nothing measured contradicts.
LEVEL_PERIODS = {MONTH: 12, QUARTER: 6}
SEASON_SHRINK = 0.3  # pseudo-periods without season
DEFAULT_SPREAD = 0.3
MIN_SPREAD = 0.12
MAX_SPREAD = 1.5
MIN_PERIODS = 3


@dataclass
class RunRate:
    """For the periods first_period … + horizon: expected new business per currency × period,
    and the log-scale spread of each."""

    currencies: list[str]
    expected: np.ndarray  # currencies × periods
    spread: np.ndarray  # currencies × periods
    periods_seen: int


def season_position(period: np.ndarray, kind: str) -> np.ndarray:
    """The position that has a season of its own: the month of the quarter (quarters: none)."""
    period = np.asarray(period, np.int64)
    return period % 3 if kind == MONTH else np.zeros_like(period)


def past_new_business(book: Book, created: np.ndarray, *, kind: str, last_complete: int, horizon: int, currency: np.ndarray, n_cur: int):
    """R[c, q, j]: money won in period q + 1 + j by deals created after period q ended, for every
    past period q whose target period had ended by `last_complete`. Returns (R, first q)."""
    won = book.status == WON
    amount = np.nan_to_num(book.amount.astype(float))
    created_p = period_of(created.astype("datetime64[D]"), kind)
    won_p = period_of(book.status_since.astype("datetime64[D]"), kind)
    first_q = int(created_p.min()) - 1 if len(created_p) else last_complete
    n_q = max(last_complete - first_q, 0)
    out = np.full((n_cur, n_q, horizon), np.nan)
    for j in range(horizon):  # a loop over the few offsets, each numpy over the deals
        q = won_p - 1 - j
        take = won & (created_p >= won_p - j) & (q >= first_q) & (q + 1 + j <= last_complete)
        sums = np.bincount(
            currency[take] * n_q + (q[take] - first_q), weights=amount[take], minlength=n_cur * n_q
        ).reshape(n_cur, n_q)
        valid = np.arange(n_q) + first_q + 1 + j <= last_complete
        out[:, valid, j] = sums[:, valid]
    return out, first_q


def fit_runrate(
    history: History, book: Book, *, kind: str, first_period: int, horizon: int, currencies: list[str], currency: np.ndarray
) -> RunRate:
    """The new business expected in each of the periods ahead, from what `book` (the deals of
    `history` as of today) shows of the past."""
    n_cur = len(currencies)
    today = book.as_of.astype("datetime64[D]")
    # The last period that had ended by today (today itself may be its last day).
    last_complete = int(period_of(np.array([today + 1]), kind)[0]) - 1
    expected = np.zeros((n_cur, horizon))
    spread = np.full((n_cur, horizon), DEFAULT_SPREAD)
    if not len(book) or not n_cur:
        return RunRate(currencies, expected, spread, 0)
    past, first_q = past_new_business(book, history.created_at[book.index], kind=kind, last_complete=last_complete, horizon=horizon,
                                      currency=currency, n_cur=n_cur)  # fmt: skip
    n_q = past.shape[1]
    # Today's date may lie inside the first period ahead: only its rest is still to come.
    start = np.datetime64(period_start(first_period, kind), "D")
    end = np.datetime64(period_end(first_period, kind), "D")
    rest = float(np.clip((end - max(today + 1, start)).astype(int) / max((end - start).astype(int), 1), 0, 1))
    seen = 0
    for j in range(horizon):
        target = np.arange(n_q) + first_q + 1 + j  # the period each past value fell in
        position = season_position(target, kind)
        ahead = int(season_position(np.array([first_period + j]), kind)[0])
        values = past[:, :, j]
        ok = ~np.isnan(values[0]) if n_cur else np.zeros(n_q, bool)
        seen = max(seen, int(ok.sum()))
        if ok.sum() < 1:
            continue
        season = _season(values[:, ok], position[ok])
        level_rows = np.flatnonzero(ok)[-LEVEL_PERIODS[kind]:]
        adjusted = values[:, level_rows] / season[:, position[level_rows]]
        level = adjusted.mean(axis=1)
        expected[:, j] = level * season[:, ahead] * (rest if j == 0 else 1.0)
        if len(level_rows) >= MIN_PERIODS:
            # The spread of the de-seasonalised values around their level, as a log-normal's σ.
            with np.errstate(divide="ignore", invalid="ignore"):
                cv = adjusted.std(axis=1, ddof=1) / level
            sigma = np.sqrt(np.log1p(np.square(np.nan_to_num(cv, nan=DEFAULT_SPREAD))))
            spread[:, j] = np.clip(sigma, MIN_SPREAD, MAX_SPREAD)
    return RunRate(currencies, expected, spread, seen)


def _season(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per currency: each position's mean over the overall mean, shrunk towards 1."""
    n_pos = 3
    overall = np.maximum(values.mean(axis=1), 1e-9)
    season = np.ones((values.shape[0], n_pos))
    for p in range(n_pos):
        at = position == p
        n = int(at.sum())
        if n:
            raw = values[:, at].mean(axis=1) / overall
            season[:, p] = (n * raw + SEASON_SHRINK) / (n + SEASON_SHRINK)
    return np.maximum(season, 0.05)
