"""The Monte Carlo of today's open deals for the snapshot: deal by deal up to
EXACT_MONTECARLO_MAX_DEALS open deals, on sums per stage and close day beyond (whose cost does not
grow with the deals). Only the recompute runs it, never a request of the dashboard."""

from __future__ import annotations

from datetime import date

import numpy as np
from django.db import connections
from django.db.models import FloatField
from django.db.models.functions import Cast

from pipeline.models import Deal, DealStatus

from . import methods
from .history import OPEN, Book, moment
from .loading import EpochDays, EpochSeconds, _positions
from .sums import Cells, OpenSums

SNAPSHOT_SIMULATIONS = 1000
# A snapshot simulates each level (pipeline, team, owner); past this many deal-futures per level
# it uses fewer futures (never below MIN_SNAPSHOT_SIMULATIONS) so a daily run stays within minutes.
SNAPSHOT_CELL_BUDGET = 50_000_000
MIN_SNAPSHOT_SIMULATIONS = 200
# The snapshot for today simulates the open deals one by one up to this many; a bigger pipeline is
# simulated on sums per stage and close day (methods.montecarlo_aggregate), whose cost does not
# grow with the deals.
EXACT_MONTECARLO_MAX_DEALS = 20_000


def snapshot_simulations(open_deals: int) -> int:
    if open_deals <= 0:
        return SNAPSHOT_SIMULATIONS
    return int(max(MIN_SNAPSHOT_SIMULATIONS, min(SNAPSHOT_SIMULATIONS, SNAPSHOT_CELL_BUDGET // open_deals)))


def open_book(*, pipeline_id: int, as_of: date, stage_ids: np.ndarray, owner_ids: list[int] | None = None) -> Book:
    """The pipeline's open deals (of `owner_ids`, None: everyone's) as a `Book` for the deal-by-deal
    simulation, in one query."""
    deals = Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    query = (
        deals.order_by("pk")
        .annotate(
            _amount=Cast("amount", FloatField()),
            _close=EpochDays("expected_close"),
            _entered=EpochSeconds("stage_entered_at"),
        )
        .values_list("owner_id", "stage_id", "_amount", "currency", "_close", "_entered")
    )
    # Plain numbers and strings: the rows are read straight from the cursor, without the ORM's
    # per-row converters (a third of the time at 100,000 open deals).
    sql, params = query.query.get_compiler(using=query.db).as_sql()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    cols = list(zip(*rows)) if rows else [[] for _ in range(6)]
    n = len(rows)
    t = moment(as_of)
    closes = np.array(cols[4], dtype=np.float64)
    close = np.full(n, np.datetime64("NaT"), "datetime64[D]")
    known = ~np.isnan(closes)
    close[known] = closes[known].astype(np.int64).astype("datetime64[D]")
    return Book(
        as_of=t,
        index=np.arange(n),
        deal_id=np.arange(n),
        external_id=np.full(n, "", dtype=object),
        owner_id=np.array(cols[0], np.int64),
        stage=_positions(cols[1], stage_ids),
        status=np.full(n, OPEN, np.int8),
        # In its stage since (the timing model's age in stage); never after the as-of moment.
        status_since=np.minimum(np.array(cols[5], np.float64).astype(np.int64).astype("datetime64[s]"), t),
        amount=np.array(cols[2], dtype=np.float64),
        currency=np.array(cols[3], dtype=object),
        expected_close=close,
        probability=np.full(n, np.nan),
        category=np.zeros(n, np.int8),
    )


def simulate_deals(
    *,
    book: Book,
    model: methods.LearnedModel,
    currencies: list[str],
    levels: list,
    calendars: list[methods.Calendar],
    won: list[np.ndarray],
    simulations: int,
    seed: int,
    quota: list[np.ndarray | None] | None = None,
) -> list[dict[str, np.ndarray]]:
    """The open deals of `book` simulated deal by deal, once for every level and calendar (the
    snapshot's pipeline, teams and owners, months and quarters; the dashboard's one scope):
    per calendar, the expected total, P10, P50, P90 and the chance of reaching the quota per level,
    currency and period, each including what was won.

    `levels`: the owner ids each level sums (None: every deal of the book); `won[c]` and
    `quota[c]` (NaN: no quota) are shaped levels × currencies × periods of calendar c. All levels
    come from the same futures, so in each future an owner's, a team's and the pipeline's totals
    add up."""
    names, codes = methods.currency_index(book.currency)
    code = np.array([currencies.index(name) if name in currencies else -1 for name in names], np.int64)
    currency = code[codes] if len(codes) else codes
    if (currency < 0).any():  # opened in a new currency since the sums were read: in the next run
        book, currency = book.subset(currency >= 0), currency[currency >= 0]
    # Owners that count in the same levels (every owner, for one level of every deal) form one group.
    owners, owner_of_deal = np.unique(book.owner_id, return_inverse=True)
    member = np.array(
        [np.ones(len(owners), bool) if ids is None else np.isin(owners, list(ids)) for ids in levels], bool
    ).reshape(len(levels), len(owners))
    signatures, group_of_owner = np.unique(member.T, axis=0, return_inverse=True)
    group = group_of_owner.reshape(-1)[owner_of_deal.reshape(-1)]
    members = [np.flatnonzero(signatures[:, level]) for level in range(len(levels))]
    totals = methods.simulate_open(
        model,
        book,
        calendars=calendars,
        currency=currency,
        n_currencies=len(currencies),
        group=group,
        levels=members,
        simulations=simulations,
        seed=seed,
    )
    return [
        methods.simulated_figures(totals[c], won[c], None if quota is None else quota[c]) for c in range(len(calendars))
    ]


def simulate_sums(
    *,
    data: OpenSums,
    model,
    cells: Cells,
    won,
    kind,
    first,
    horizon,
    as_of,
    seed,
    simulations: int | None = None,
    quota: np.ndarray | None = None,
):
    """The simulation of every level at once on the sums per stage and close day."""
    k = len(model.probability)
    levels, n_cur, _ = cells.shape
    dated = ~np.isnat(data.close) & (data.s1 > 0)
    idx = np.flatnonzero(dated)
    due = (data.close[idx] - np.datetime64(as_of, "D")).astype(np.int64)
    chance = methods.landing_chances(
        model, data.stage[idx], due, as_of_day=np.datetime64(as_of, "D"), kind=kind, first_period=first, horizon=horizon
    )
    s1 = np.zeros((levels, n_cur, horizon, k))
    rows = np.isin(cells.row, idx)
    row, level = cells.row[rows], cells.level[rows]
    q = chance[np.searchsorted(idx, row)]  # pairs × periods
    base = ((level * n_cur + data.currency[row]) * horizon)[:, None] + np.arange(horizon)[None, :]
    key = (base * k + data.stage[row][:, None]).ravel()
    size = s1.size
    a1, a2 = np.repeat(data.s1[row], horizon), np.repeat(data.s2[row], horizon)
    qf = q.ravel()
    shape = s1.shape
    s1 = np.bincount(key, weights=qf * a1, minlength=size).astype(float).reshape(shape)
    s2 = np.bincount(key, weights=qf * a2, minlength=size).astype(float).reshape(shape)
    s2q = np.bincount(key, weights=qf * qf * a2, minlength=size).astype(float).reshape(shape)
    return methods.montecarlo_aggregate(
        model.probability,
        model.correlation,
        s1,
        s2,
        s2q,
        won=won,
        simulations=simulations or SNAPSHOT_SIMULATIONS,
        seed=seed,
        quota=quota,
    )
