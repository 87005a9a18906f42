"""Naive forecasts a method must beat, from the won amount of past periods alone.

`actuals[i]` is the money won in period `first + i`; a baseline for period `target` uses only
periods before it. Where a baseline has no data (the first periods, a year ago before the history
began), it is NaN and left out of its score.
"""

from __future__ import annotations

import numpy as np

from .periods import MONTH

BASELINES = ("last period", "mean of last 3", "same period a year ago")


def won_per_period(period: np.ndarray, amount: np.ndarray, first: int, count: int) -> np.ndarray:
    """Money won per period first … first + count − 1 (deals given by their won period)."""
    inside = (period >= first) & (period < first + count)
    return np.bincount(period[inside] - first, weights=amount[inside], minlength=count)[:count]


def naive_forecasts(actuals: np.ndarray, first: int, target: int, kind: str) -> dict[str, float]:
    """The three baselines for period `target`, from `actuals` of periods first, first + 1, …"""
    i = target - first
    year = 12 if kind == MONTH else 4

    def at(n):
        return float(actuals[n]) if 0 <= n < len(actuals) and n < i else float("nan")

    last3 = [at(i - k) for k in (1, 2, 3)]
    return {
        "last period": at(i - 1),
        "mean of last 3": float(np.mean(last3)) if not np.isnan(last3).any() else float("nan"),
        "same period a year ago": at(i - year),
    }
