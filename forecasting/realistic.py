"""Seeded histories shaped like a real B2B seller's CRM export, beside the tidy synthetic generator.

What a sales manager migrating to Stageflow brings is an export with a created date, a close date,
the stage, the outcome and the amount of each opportunity, and nothing else: no expected close
dates, no stage moves in between. The deals behind such an export look like this, and so do the
ones generated here:

- many small deals are created and won within days (an inbound request, a re-order), more of
  them in the first month of a quarter, when budgets open;
- larger deals go through the stages with long, skewed times in each (log-normal), and reps pull
  wins into the last days of a quarter;
- a good share of deals stalls and never closes: they stay open in their stage for ever, until an
  occasional clean-up marks the oldest ones lost;
- the number of new deals and the win rate move together month by month (a shared shock), on a
  slow growth trend;
- amounts are log-normal; owners are people with full names.

The history records exactly what such an export lets `import_history` record: one stage row when a
deal was created (in the stage the export names) and one when it closed (won or lost).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from .history import CATEGORY_CODES, LOST, OPEN, WON, History
from .synthetic import CONFIGURED, STAGE_NAMES

OWNER_NAMES = [
    "Anna Becker",
    "Jonas Weber",
    "Laura Schmidt",
    "Felix Wagner",
    "Miriam Hoffmann",
    "David Schulz",
    "Sofia Richter",
    "Lukas Neumann",
    "Elena Krüger",
    "Tobias Braun",
    "Nora Zimmermann",
    "Paul Hartmann",
]
DAY = np.timedelta64(86400, "s")
# New deals per month, by month of the quarter: budgets open in the first month.
CREATION_SEASON = np.array([1.25, 0.95, 0.80])
# Share of quick deals (created in Offer, decided within days) by month of the quarter.
QUICK_SHARE = np.array([0.50, 0.35, 0.30])
# Each open stage of a longer deal: chance to move on, to be won from here, to stall for ever;
# the rest is lost. Negotiation's "move on" is the win.
ADVANCE = np.array([0.42, 0.52, 0.55, 0.42, 0.00])
WIN_FROM = np.array([0.00, 0.00, 0.03, 0.18, 0.62])
STALL = np.array([0.14, 0.12, 0.10, 0.09, 0.08])
DWELL_MEDIAN_DAYS = np.array([14.0, 18.0, 22.0, 20.0, 15.0])
DWELL_SIGMA = 0.9
MONTH_SHOCK_SIGMA = 0.18  # log scale, on the new deals and the odds of winning of one month
GROWTH_PER_MONTH = 0.012


@dataclass
class Realistic:
    history: History
    owner_names: list[str]
    start: np.datetime64
    months: int

    @property
    def end(self) -> np.datetime64:
        """The moment of the export: nothing after it is recorded."""
        return (self.start.astype("datetime64[M]") + np.timedelta64(self.months, "M")).astype("datetime64[s]") - 1


def generate(
    *, seed: int = 11, months: int = 15, deals_per_month: float = 320.0, start: str = "2025-01-01", currency: str = "EUR"
) -> Realistic:
    """About `deals_per_month` new opportunities a month for `months` months, seen at the end of
    the last month (open deals are still open then; what would close later is not recorded)."""
    rng = np.random.default_rng(seed)
    first_month = np.datetime64(start, "M")
    month_starts = (first_month + np.arange(months + 1)).astype("datetime64[s]")
    end = month_starts[-1] - np.timedelta64(1, "s")
    month_of_quarter = (first_month + np.arange(months)).astype(np.int64) % 3
    shock = rng.standard_normal(months + 24)  # later months' shocks decide deals after the export

    rate = deals_per_month * (1 + GROWTH_PER_MONTH) ** np.arange(months)
    rate = rate * CREATION_SEASON[month_of_quarter] * np.exp(MONTH_SHOCK_SIGMA * shock[:months])
    per_month = rng.poisson(rate)
    month = np.repeat(np.arange(months), per_month)
    n = len(month)
    span = (month_starts[month + 1] - month_starts[month]).astype(np.int64)
    created = month_starts[month] + (rng.random(n) * span).astype(np.int64).astype("timedelta64[s]")
    order = np.argsort(created, kind="stable")
    created, month = created[order], month[order]

    quick = rng.random(n) < QUICK_SHARE[month_of_quarter[month]]
    amount = np.where(
        quick, rng.lognormal(np.log(3000), 0.8, n), rng.lognormal(np.log(9000), 1.0, n)
    )
    amount = np.maximum(100.0, np.round(amount, -2))

    stage = np.where(quick, 3, np.where(rng.random(n) < 0.6, 0, 1)).astype(np.int64)
    t = created.copy()
    outcome = np.full(n, OPEN, np.int8)
    closed_at = np.full(n, np.datetime64("NaT"), "datetime64[s]")

    def month_index(at):
        return (at.astype("datetime64[M]") - first_month).astype(np.int64).clip(0, len(shock) - 1)

    # Quick deals: decided within days, mostly won.
    q = np.flatnonzero(quick)
    t[q] = t[q] + (rng.lognormal(np.log(6), 0.7, len(q)) * 86400).astype(np.int64).astype("timedelta64[s]")
    odds = 2.6 * np.exp(MONTH_SHOCK_SIGMA * shock[month_index(t[q])])
    won = rng.random(len(q)) < odds / (1 + odds)
    outcome[q] = np.where(won, WON, LOST)
    closed_at[q] = t[q]

    # Longer deals: a walk through the stages, one step for every deal at a time.
    moving = ~quick
    for _ in range(8):
        idx = np.flatnonzero(moving)
        if not len(idx):
            break
        s = stage[idx]
        dwell = DWELL_MEDIAN_DAYS[s] * rng.lognormal(0.0, DWELL_SIGMA, len(idx))
        t_next = t[idx] + (dwell * 86400).astype(np.int64).astype("timedelta64[s]")
        boost = np.exp(MONTH_SHOCK_SIGMA * shock[month_index(t_next)])
        win = WIN_FROM[s] * boost
        advance = ADVANCE[s]
        stall = STALL[s]
        lose = np.maximum(0.0, 1 - win - advance - stall)
        total = win + advance + stall + lose
        u = rng.random(len(idx)) * total
        goes_on = u < advance
        wins = (u >= advance) & (u < advance + win)
        stalls = (u >= advance + win) & (u < advance + win + stall)
        loses = ~(goes_on | wins | stalls)
        stage[idx[goes_on]] += 1
        t[idx[goes_on]] = t_next[goes_on]
        closing = wins | loses
        outcome[idx[wins]] = WON
        outcome[idx[loses]] = LOST
        closed_at[idx[closing]] = t_next[closing]
        moving[idx[closing | stalls]] = False

    # Reps pull wins of a quarter's first ten days into the quarter that just ended.
    won_day = closed_at.astype("datetime64[D]")
    quarter_start = _quarter_start(won_day)
    early = (outcome == WON) & ~quick & ((won_day - quarter_start).astype(np.int64) < 10) & (rng.random(n) < 0.4)
    closed_at[early] = quarter_start[early].astype("datetime64[s]") - (
        rng.integers(1, 4 * 86400, early.sum()).astype("timedelta64[s]")
    )
    closed_at = np.maximum(closed_at, created + np.timedelta64(3600, "s"))

    # Twice a year someone cleans up: deals open for over 150 days are marked lost, half of them.
    for m in range(5, months, 6):
        at = month_starts[m + 1] - np.timedelta64(2 * 86400, "s")
        old = (created < at - 150 * DAY) & ((outcome == OPEN) | (closed_at > at)) & (rng.random(n) < 0.5)
        outcome[old] = LOST
        closed_at[old] = at

    # What the export shows at its end: later closes have not happened yet.
    later = closed_at > end
    outcome[later] = OPEN
    closed_at[later] = np.datetime64("NaT")
    final_stage = np.where(outcome == WON, 5, np.minimum(stage, 4))

    owner = rng.integers(0, len(OWNER_NAMES), n)
    history = _export_history(created, closed_at, outcome, stage.clip(0, 4), final_stage, amount, owner, currency)
    return Realistic(history, list(OWNER_NAMES), first_month.astype("datetime64[s]"), months)


def _quarter_start(days: np.ndarray) -> np.ndarray:
    month = days.astype("datetime64[M]").astype(np.int64)
    return (month - month % 3).astype("datetime64[M]").astype("datetime64[D]")


def _export_history(created, closed_at, outcome, open_stage, final_stage, amount, owner, currency) -> History:
    n = len(created)
    closed = outcome != OPEN
    sc_deal = np.r_[np.arange(n), np.flatnonzero(closed)]
    sc_at = np.r_[created, closed_at[closed]]
    sc_stage = np.r_[open_stage, final_stage[closed]]
    sc_status = np.r_[np.full(n, OPEN, np.int8), outcome[closed]].astype(np.int8)
    order = np.lexsort((sc_at, sc_deal))
    return History(
        stage_ids=np.arange(1, 7),
        stage_names=list(STAGE_NAMES),
        stage_probability=CONFIGURED.copy(),
        stage_is_won=np.array([False] * 5 + [True]),
        deal_id=np.arange(1, n + 1),
        external_id=np.array([f"OPP-{i + 1:05d}" for i in range(n)], dtype=object),
        owner_id=owner.astype(np.int64) + 1,
        created_at=created,
        amount=amount.astype(float),
        currency=np.array([currency] * n, dtype=object),
        expected_close=np.full(n, np.datetime64("NaT"), "datetime64[D]"),
        probability=np.full(n, np.nan),
        category=np.full(n, CATEGORY_CODES["pipeline"], np.int8),
        stage=final_stage.astype(np.int64),
        status=outcome.astype(np.int8),
        sc_deal=sc_deal[order].astype(np.int64),
        sc_at=sc_at[order],
        sc_stage=sc_stage[order].astype(np.int64),
        sc_status=sc_status[order],
        changes={},
    )


def write_csv(real: Realistic, deals_path: str, events_path: str) -> None:
    """The history as the two files `import_history` reads (the export's shape: no expected close,
    no stage moves in between). The stage the export names is one stage event per deal, at its
    creation: the deal was in that stage from the start, and a won deal moves on to won when it
    closes, a lost one is lost from there."""
    h = real.history
    status_name = {OPEN: "open", WON: "won", LOST: "lost"}
    closed_at = np.full(h.n_deals, np.datetime64("NaT"), "datetime64[s]")
    last = np.r_[h.sc_deal[1:] != h.sc_deal[:-1], True]
    closed_rows = last & (h.sc_status != OPEN)
    closed_at[h.sc_deal[closed_rows]] = h.sc_at[closed_rows]
    first = np.r_[True, h.sc_deal[1:] != h.sc_deal[:-1]]
    entered = np.zeros(h.n_deals, np.int64)
    entered[h.sc_deal[first]] = h.sc_stage[first]
    with open(deals_path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            ["external_id", "title", "lead", "owner", "amount", "currency", "created_at", "expected_close", "status",
             "closed_at", "lost_reason"]
        )  # fmt: skip
        for i in range(h.n_deals):  # a file writer: one line per deal is the point
            status = status_name[int(h.status[i])]
            out.writerow(
                [
                    h.external_id[i],
                    f"Opportunity {h.external_id[i]}",
                    f"Customer {int(h.deal_id[i]) % 1500 + 1}",
                    real.owner_names[int(h.owner_id[i]) - 1],
                    f"{h.amount[i]:.2f}",
                    h.currency[i],
                    f"{h.created_at[i]}Z",
                    "",
                    status,
                    f"{closed_at[i]}Z" if status != "open" else "",
                    "No budget" if status == "lost" else "",
                ]
            )
    with open(events_path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["external_id", "at", "field", "old", "new"])
        for i in range(h.n_deals):
            out.writerow([h.external_id[i], f"{h.created_at[i]}Z", "stage", "", h.stage_names[int(entered[i])]])
