"""A pipeline's deals and their history as numpy arrays, and its state "as of" any past moment.

`History` is what the forecasting methods read: the deals (their current fields), every
`StageChange` (stage and status over time) and every `DealChange` of the fields a forecast
depends on (amount, expected close, probability override, currency, forecast category), all
loaded in bulk (`forecasting.loading`) or made by the synthetic generator (`forecasting.synthetic`).

`as_of(history, T)` rebuilds each deal as it was known at T and sees nothing recorded after T:
deals created later do not exist yet, the stage and status are those of the last stage change at
or before T, and a field's value is the `new` value of its last change at or before T, else the
`old` value of its first change after T, else the deal's current value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone as dt_timezone

import numpy as np

OPEN, WON, LOST = 0, 1, 2
STATUS_CODES = {"open": OPEN, "won": WON, "lost": LOST}

CATEGORIES = ("pipeline", "best_case", "commit", "omitted")
CATEGORY_CODES = {name: code for code, name in enumerate(CATEGORIES)}

NAT_S = np.datetime64("NaT", "s")
NAT_D = np.datetime64("NaT", "D")
# Field changes are searched by one sorted int64 key per row: deal index × this + seconds.
_KEY_STRIDE = np.int64(10**11)


def to_seconds(value) -> np.datetime64:
    """A date, an aware datetime (converted to UTC) or an ISO string, as datetime64[s] (UTC)."""
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[s]")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt_timezone.utc).replace(tzinfo=None)
        return np.datetime64(value, "s")
    if isinstance(value, date):
        return np.datetime64(value, "D").astype("datetime64[s]")
    return np.datetime64(value, "s")


def end_of_day(value) -> np.datetime64:
    """The last second of a date: "as of 2025-03-31" sees everything recorded that day."""
    day = to_seconds(value).astype("datetime64[D]")
    return (day + np.timedelta64(1, "D")).astype("datetime64[s]") - np.timedelta64(1, "s")


def moment(when) -> np.datetime64:
    """A point in time: a date means the end of that day; datetimes and datetime64 are exact."""
    if isinstance(when, date) and not isinstance(when, datetime):
        return end_of_day(when)
    if isinstance(when, str) and len(when) == 10:
        return end_of_day(np.datetime64(when, "D"))
    return to_seconds(when)


@dataclass
class FieldChanges:
    """The changes of one field, sorted by deal index, then time. Values are already typed."""

    deal: np.ndarray  # int64 index into History's deal arrays
    at: np.ndarray  # datetime64[s]
    old: np.ndarray
    new: np.ndarray

    @classmethod
    def empty(cls, dtype) -> "FieldChanges":
        return cls(np.zeros(0, np.int64), np.zeros(0, "datetime64[s]"), np.zeros(0, dtype), np.zeros(0, dtype))

    def __post_init__(self):
        self.key = self.deal.astype(np.int64) * _KEY_STRIDE + self.at.astype(np.int64)

    def values_at(self, deal: np.ndarray, at: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The value of the field for each (deal, at) pair, seeing nothing after `at`."""
        out = current[deal].copy()
        if len(self.deal) == 0 or len(deal) == 0:
            return out
        query = deal.astype(np.int64) * _KEY_STRIDE + np.broadcast_to(at, deal.shape).astype(np.int64)
        pos = np.searchsorted(self.key, query, side="right")  # first change after `at` (if same deal)
        after = pos < len(self.key)
        after[after] &= self.deal[pos[after]] == deal[after]
        out[after] = self.old[pos[after]]
        before = pos > 0
        before[before] &= self.deal[pos[before] - 1] == deal[before]
        out[before] = self.new[pos[before] - 1]
        return out


@dataclass
class History:
    """One pipeline's deals and their history. Deal arrays are aligned by deal index."""

    # Stages of the pipeline in board order.
    stage_ids: np.ndarray
    stage_names: list[str]
    stage_probability: np.ndarray  # the admin's probability, 0..1
    stage_is_won: np.ndarray  # bool
    # Deals, current fields.
    deal_id: np.ndarray
    external_id: np.ndarray  # object (str)
    owner_id: np.ndarray
    created_at: np.ndarray  # datetime64[s]
    amount: np.ndarray  # float, NaN when empty
    currency: np.ndarray  # object (str)
    expected_close: np.ndarray  # datetime64[D], NaT when empty
    probability: np.ndarray  # float 0..1, NaN when the stage's applies
    category: np.ndarray  # int8 codes of CATEGORIES
    stage: np.ndarray  # int index into the stage arrays
    status: np.ndarray  # int8 OPEN/WON/LOST
    # Stage history, sorted by deal index, then time: the stage and status a row leads to.
    sc_deal: np.ndarray
    sc_at: np.ndarray
    sc_stage: np.ndarray
    sc_status: np.ndarray
    changes: dict[str, FieldChanges] = field(default_factory=dict)

    @property
    def n_deals(self) -> int:
        return len(self.deal_id)

    def field_changes(self, name: str) -> FieldChanges:
        if name not in self.changes:
            self.changes[name] = FieldChanges.empty(getattr(self, name).dtype)
        return self.changes[name]

    def field_values_at(self, name: str, deal: np.ndarray, at) -> np.ndarray:
        return self.field_changes(name).values_at(deal, np.asarray(at, "datetime64[s]"), getattr(self, name))


@dataclass
class Book:
    """The deals of a pipeline as they were known at `as_of` (only deals that existed then)."""

    as_of: np.datetime64  # datetime64[s]
    index: np.ndarray  # indices into the History's deal arrays
    deal_id: np.ndarray
    external_id: np.ndarray
    owner_id: np.ndarray
    stage: np.ndarray
    status: np.ndarray
    status_since: np.ndarray  # when the deal entered its stage/status (datetime64[s])
    amount: np.ndarray
    currency: np.ndarray
    expected_close: np.ndarray
    probability: np.ndarray
    category: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    @property
    def open(self) -> np.ndarray:
        return self.status == OPEN

    def subset(self, mask: np.ndarray) -> "Book":
        values = {name: getattr(self, name)[mask] for name in self.__dataclass_fields__ if name != "as_of"}
        return Book(as_of=self.as_of, **values)


def last_per_group(groups: np.ndarray) -> np.ndarray:
    """Mask of the last row of each run of equal values in a sorted array."""
    if len(groups) == 0:
        return np.zeros(0, bool)
    return np.r_[groups[1:] != groups[:-1], True]


def as_of(history: History, when) -> Book:
    """Every deal as it was known at `when` (a datetime, or a date meaning the end of that day)."""
    t = moment(when)
    h = history
    index = np.flatnonzero(h.created_at <= t)

    stage = h.stage.copy()
    status = np.full(h.n_deals, OPEN, np.int8)
    since = h.created_at.copy()
    # A deal with no row up to `t` (inconsistent data) starts where its first row puts it.
    # Rows are sorted by deal: a deal's first row is where the deal changes.
    first = np.flatnonzero(np.r_[True, h.sc_deal[1:] != h.sc_deal[:-1]]) if len(h.sc_deal) else np.zeros(0, np.int64)
    stage[h.sc_deal[first]] = h.sc_stage[first]
    seen = h.sc_at <= t
    d = h.sc_deal[seen]
    last = last_per_group(d)
    stage[d[last]] = h.sc_stage[seen][last]
    status[d[last]] = h.sc_status[seen][last]
    since[d[last]] = h.sc_at[seen][last]

    values = {
        name: h.field_values_at(name, index, t)
        for name in ("amount", "currency", "expected_close", "probability", "category")
    }
    return Book(
        as_of=t,
        index=index,
        deal_id=h.deal_id[index],
        external_id=h.external_id[index],
        owner_id=h.owner_id[index],
        stage=stage[index],
        status=status[index],
        status_since=since[index],
        **values,
    )
