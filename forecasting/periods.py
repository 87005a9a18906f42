"""Close periods (months or quarters) as integers, so that numpy can group by them."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

MONTH, QUARTER = "month", "quarter"
PERIOD_KINDS = (MONTH, QUARTER)


def period_of(days: np.ndarray, kind: str) -> np.ndarray:
    """Period number of each date (datetime64[D]); months or quarters since 1970. NaT gives -1."""
    days = np.asarray(days, "datetime64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)
    result = months if kind == MONTH else np.floor_divide(months, 3)
    return np.where(np.isnat(days), -1, result)


def period_start(number: int, kind: str) -> date:
    month = int(number) if kind == MONTH else int(number) * 3
    return np.datetime64(month, "M").astype("datetime64[D]").item()


def period_end(number: int, kind: str) -> date:
    """The first day after the period."""
    return period_start(number + 1, kind)


def period_label(number: int, kind: str) -> str:
    start = period_start(number, kind)
    if kind == MONTH:
        return f"{start.year}-{start.month:02d}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def period_of_date(value: date, kind: str) -> int:
    return int(period_of(np.array([value], "datetime64[D]"), kind)[0])


def period_lookup(first_day: np.datetime64, first_period: int, horizon: int, kind: str) -> np.ndarray:
    """For day offsets 0..L-1 from `first_day`, the period offset (0..horizon-1) of that day.
    Offsets at or past L lie beyond the horizon."""
    last_day = np.datetime64(period_start(first_period + horizon, kind), "D")
    days = np.arange(first_day, max(last_day, first_day), dtype="datetime64[D]")
    # Days before the first period (an as-of date just before it starts) count as the first period.
    return np.maximum(period_of(days, kind) - first_period, 0).astype(np.int32)


def first_forecast_period(as_of: date, kind: str) -> int:
    """The first period a forecast made at the end of `as_of` looks at: the one holding the next
    day. On a period's last day, that period is over: the forecast starts with the next one."""
    return period_of_date(as_of + timedelta(days=1), kind)
