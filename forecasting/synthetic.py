"""A seeded synthetic pipeline with known true probabilities, and the backtest of the methods on it.

The generator plays deals through the six default stages as a Markov chain with its own
transition rates (forward moves, skipped stages, backward moves, losses from every stage and
wins from Offer and Negotiation), Weibull-distributed times in each stage, expected close dates
that reps set, re-estimate and push out when they pass, and a shared shock per calendar quarter
(good and bad quarters move every deal's odds of being lost together). The true probability that
a deal in a stage ends won is the chain's absorption probability, known exactly.

`backtest()` forecasts each quarter from its first day, seeing only the history up to then, and
scores every method against what the deals open on that day actually brought in that quarter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import methods
from .history import CATEGORY_CODES, LOST, OPEN, WON, History, FieldChanges, as_of
from .periods import QUARTER, period_label, period_of, period_start

STAGE_NAMES = ["Prospecting", "Qualification", "Meeting & demo", "Offer", "Negotiation", "Retention"]
CONFIGURED = np.array([0.10, 0.20, 0.40, 0.60, 0.80, 1.00])
K_OPEN = 5
W, L = 5, 6  # columns of the transition matrix beyond the open stages

# From each open stage: the chance of moving to stages 0..4, winning, or being lost.
TRANSITIONS = np.array(
    [
        # P0    P1    P2    P3    P4    won   lost
        [0.00, 0.45, 0.08, 0.00, 0.00, 0.00, 0.47],  # Prospecting: some skip qualification
        [0.05, 0.00, 0.50, 0.07, 0.00, 0.00, 0.38],  # Qualification: some go back, some skip the demo
        [0.00, 0.08, 0.00, 0.50, 0.05, 0.00, 0.37],  # Meeting & demo
        [0.00, 0.00, 0.08, 0.00, 0.52, 0.10, 0.30],  # Offer: some are signed without negotiation
        [0.00, 0.00, 0.00, 0.12, 0.00, 0.55, 0.33],  # Negotiation: some go back to a new offer
    ]
)
WEIBULL_SHAPE = 1.4
WEIBULL_SCALE_DAYS = np.array([18.0, 22.0, 28.0, 25.0, 20.0])
SHOCK_SIGMA = 0.35  # per-quarter shock on the odds of losing
PUSH_DAYS = 30  # a rep pushes an overdue close date out by this much


def true_probabilities(transitions: np.ndarray = TRANSITIONS) -> np.ndarray:
    """Absorption probability into "won" from each open stage (then 1.0 for Retention)."""
    q, r = transitions[:, :K_OPEN], transitions[:, K_OPEN]
    return np.r_[np.linalg.solve(np.eye(K_OPEN) - q, r), 1.0]


@dataclass
class Synthetic:
    history: History
    outcome: np.ndarray  # final status per deal (WON or LOST)
    closed_at: np.ndarray  # datetime64[s] of the final outcome
    true_probability: np.ndarray  # per stage
    start: np.datetime64
    months: int


def generate(
    *, seed: int = 7, months: int = 48, deals_per_month: float = 90.0, start: str = "2022-01-01", currency: str = "EUR"
) -> Synthetic:
    """Play a pipeline of about `deals_per_month` new deals a month for `months` months."""
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start, "s")
    day = 86400
    n = int(rng.poisson(deals_per_month * months))
    created = t0 + (rng.random(n) * months * 30.4375 * day).astype(np.int64).astype("timedelta64[s]")
    created.sort()
    quarters = int(months / 3) + 12
    shock = rng.standard_normal(quarters)
    first_quarter = int(period_of(np.array([t0.astype("datetime64[D]")]), QUARTER)[0])

    amount = np.round(rng.lognormal(np.log(15000), 0.8, n), -2)
    planned = np.maximum(14, rng.normal(75, 20, n)).astype(np.int64)
    first_close = created.astype("datetime64[D]") + planned.astype("timedelta64[D]")
    cum = np.cumsum(TRANSITIONS, axis=1)

    sc_deal, sc_at, sc_stage, sc_status = [], [], [], []
    ch_deal, ch_at, ch_old, ch_new = [], [], [], []
    final_stage = np.zeros(n, np.int64)
    outcome = np.zeros(n, np.int8)
    closed_at = np.zeros(n, "datetime64[s]")
    close = first_close.copy()
    for i in range(n):  # a generator, not a forecast: one life per deal, played out in full
        t = created[i]
        stage = 0 if rng.random() < 0.8 else 1
        sc_deal.append(i), sc_at.append(t), sc_stage.append(stage), sc_status.append(OPEN)
        expected = first_close[i]
        for _ in range(60):
            dwell = WEIBULL_SCALE_DAYS[stage] * rng.weibull(WEIBULL_SHAPE)
            t_next = t + np.timedelta64(int(dwell * day), "s")
            # The rep pushes the close date out whenever it passes with the deal still open.
            while expected.astype("datetime64[s]") < t_next:
                at = expected.astype("datetime64[s]") + np.timedelta64(9 * 3600, "s")
                new = expected + np.timedelta64(PUSH_DAYS, "D")
                ch_deal.append(i), ch_at.append(at), ch_old.append(expected), ch_new.append(new)
                expected = new
            quarter = int(period_of(np.array([t_next.astype("datetime64[D]")]), QUARTER)[0]) - first_quarter
            row = TRANSITIONS[stage].copy()
            row[L] *= np.exp(-SHOCK_SIGMA * shock[min(quarter, quarters - 1)])
            row /= row.sum()
            target = int(np.searchsorted(np.cumsum(row), rng.random() * 0.999999999))
            t = t_next
            if target == L:
                sc_deal.append(i), sc_at.append(t), sc_stage.append(stage), sc_status.append(LOST)
                outcome[i] = LOST
                break
            if target == W:
                sc_deal.append(i), sc_at.append(t), sc_stage.append(5), sc_status.append(WON)
                outcome[i], stage = WON, 5
                break
            # Entering the offer, a rep re-estimates the close date half of the time.
            if target == 3 and rng.random() < 0.5:
                new = t.astype("datetime64[D]") + np.timedelta64(int(max(7, rng.normal(35, 12))), "D")
                if new != expected:
                    ch_deal.append(i), ch_at.append(t + np.timedelta64(60, "s")), ch_old.append(expected)
                    ch_new.append(new)
                    expected = new
            stage = target
            sc_deal.append(i), sc_at.append(t), sc_stage.append(stage), sc_status.append(OPEN)
        else:  # pragma: no cover - the chain closes long before
            outcome[i] = LOST
        final_stage[i] = stage
        closed_at[i] = t
        close[i] = expected
    del cum

    order = np.lexsort((np.array(sc_at, "datetime64[s]"), np.array(sc_deal)))
    ch_order = np.lexsort((np.array(ch_at, "datetime64[s]"), np.array(ch_deal, np.int64)))
    history = History(
        stage_ids=np.arange(1, 7),
        stage_names=list(STAGE_NAMES),
        stage_probability=CONFIGURED.copy(),
        stage_is_won=np.array([False] * 5 + [True]),
        deal_id=np.arange(1, n + 1),
        external_id=np.array([f"SYN-{i + 1}" for i in range(n)], dtype=object),
        owner_id=rng.integers(1, 9, n),
        created_at=created,
        amount=amount,
        currency=np.array([currency] * n, dtype=object),
        expected_close=close,
        probability=np.full(n, np.nan),
        category=np.full(n, CATEGORY_CODES["pipeline"], np.int8),
        stage=final_stage,
        status=outcome.copy(),
        sc_deal=np.array(sc_deal, np.int64)[order],
        sc_at=np.array(sc_at, "datetime64[s]")[order],
        sc_stage=np.array(sc_stage, np.int64)[order],
        sc_status=np.array(sc_status, np.int8)[order],
        changes={
            "expected_close": FieldChanges(
                np.array(ch_deal, np.int64)[ch_order],
                np.array(ch_at, "datetime64[s]")[ch_order],
                np.array(ch_old, "datetime64[D]")[ch_order],
                np.array(ch_new, "datetime64[D]")[ch_order],
            )
        },
    )
    return Synthetic(history, outcome, closed_at, true_probabilities(), t0, months)


# --- Backtest ------------------------------------------------------------------------------------

METHODS = ("weighted", "learned", "montecarlo", "true")


@dataclass
class Score:
    method: str
    wape: float
    bias: float
    brier: float
    coverage: float
    probability_error: float  # mean |p − true p| over the deals scored
    quarters: int


DEFAULT_SEEDS = (7, 8, 9)


def backtest(
    *,
    seeds=DEFAULT_SEEDS,
    months: int = 48,
    warmup_quarters: int = 6,
    deals_per_month: float = 200.0,
    simulations: int = 2000,
) -> tuple[list[Score], list[dict]]:
    """Score each method on every quarter after the warm-up, over one synthetic pipeline per
    seed; returns the scores and the per-quarter figures (forecast, P10, P90, actual)."""
    per_quarter = []
    collected = {m: {"f": [], "lo": [], "hi": [], "a": [], "p": [], "y": [], "t": []} for m in METHODS}
    for seed in seeds:
        synth = generate(seed=seed, months=months, deals_per_month=deals_per_month)
        _backtest_one(synth, seed, warmup_quarters, simulations, collected, per_quarter)
    scores = []
    for name in METHODS:
        c = collected[name]
        f, a = np.array(c["f"]), np.array(c["a"])
        lo, hi = np.array(c["lo"]), np.array(c["hi"])
        p, y, t = np.concatenate(c["p"]), np.concatenate(c["y"]), np.concatenate(c["t"])
        scores.append(
            Score(
                method=name,
                wape=methods.wape(f, a),
                bias=methods.bias(f, a),
                brier=methods.brier(p, y),
                coverage=float(np.mean((a >= lo) & (a <= hi))),
                probability_error=float(np.mean(np.abs(p - t))),
                quarters=len(f),
            )
        )
    return scores, per_quarter


def _backtest_one(synth: Synthetic, seed: int, warmup_quarters: int, simulations: int, collected, per_quarter):
    h = synth.history
    first = int(period_of(np.array([synth.start.astype("datetime64[D]")]), QUARTER)[0])
    last = first + synth.months // 3 - 1
    for q in range(first + warmup_quarters, last + 1):
        start = np.datetime64(period_start(q, QUARTER), "s")
        end = np.datetime64(period_start(q + 1, QUARTER), "s")
        t = start - np.timedelta64(1, "s")  # the evening before the quarter starts
        book = as_of(h, t)
        model = methods.fit_learned(h, t)
        opened = book.status == OPEN
        deals = book.index[opened]
        won_in_quarter = (
            (synth.outcome[deals] == WON) & (synth.closed_at[deals] >= start) & (synth.closed_at[deals] < end)
        )
        actual = float(np.nansum(h.amount[deals] * won_in_quarter))
        truth = synth.true_probability[book.stage]
        results = {
            "weighted": methods.weighted(h, book, kind=QUARTER, first_period=q, horizon=1),
            "learned": methods.learned(model, book, kind=QUARTER, first_period=q, horizon=1),
            "montecarlo": methods.montecarlo(
                model, book, kind=QUARTER, first_period=q, horizon=1, simulations=simulations, seed=seed + q
            ),
            "true": methods.expected_forecast(book, truth, method="true", kind=QUARTER, first_period=q, horizon=1),
        }
        row = {"seed": seed, "quarter": period_label(q, QUARTER), "open_deals": int(opened.sum()), "actual": actual}
        outcome = (synth.outcome[deals] == WON).astype(float)
        for name, result in results.items():
            c = collected[name]
            c["f"].append(result.expected[0, 0])
            c["lo"].append(result.p10[0, 0])
            c["hi"].append(result.p90[0, 0])
            c["a"].append(actual)
            c["p"].append(result.deal_probability[opened])
            c["y"].append(outcome)
            c["t"].append(truth[opened])
            row[name] = (result.expected[0, 0], result.p10[0, 0], result.p90[0, 0])
        per_quarter.append(row)


# --- Into the database (demo data, benchmarks) ------------------------------------------------------


def write_to_database(synth: Synthetic, *, pipeline, owners: list, until=None, lost_reason=None) -> int:
    """Write the synthetic deals and their history into `pipeline` through the bulk writers,
    shifted so that the history ends `until` (default: now), leaving out what lies after it.
    Deals are spread over `owners`. Returns the number of deals written."""
    from datetime import datetime, timezone as dt_timezone

    from django.db import transaction

    from pipeline import events, services
    from pipeline.models import DealField, Organization, LostReason

    h = synth.history
    now = np.datetime64(until or datetime.now(dt_timezone.utc).replace(tzinfo=None), "s")
    shift = now - (synth.start + np.timedelta64(int(synth.months * 30.4375 * 86400), "s"))
    stages = list(pipeline.stages.order_by("position", "pk"))
    reason = lost_reason or LostReason.objects.order_by("position").first()

    def aware(value):
        return datetime.fromisoformat(str(value)).replace(tzinfo=dt_timezone.utc)

    h = _shifted(h, shift)
    with transaction.atomic():
        state_at_now = as_of(h, now)
        organizations = Organization.objects.bulk_create([Organization(name=f"Synthetic customer {i + 1}") for i in range(len(state_at_now))])
        rows, keep = [], state_at_now.index
        for j, i in enumerate(keep):
            status = {OPEN: "open", WON: "won", LOST: "lost"}[int(state_at_now.status[j])]
            since = aware(state_at_now.status_since[j])
            rows.append(
                {
                    "pipeline_id": pipeline.pk,
                    "stage_id": stages[int(state_at_now.stage[j])].pk,
                    "organization_id": organizations[j].pk,
                    "title": f"Deal {h.external_id[i]}",
                    "amount": f"{h.amount[i]:.2f}",
                    "currency": h.currency[i],
                    "expected_close": (state_at_now.expected_close[j]).item(),
                    "status": status,
                    "owner_id": owners[int(h.owner_id[i]) % len(owners)].pk,
                    "lost_reason_id": reason.pk if status == "lost" else None,
                    "stage_entered_at": since,
                    "closed_at": since if status != "open" else None,
                    "created_at": aware(h.created_at[i]),
                    "external_id": str(h.external_id[i]),
                }
            )
        created = services.deals_bulk_import(deals=rows)
        pk_of = {int(i): d.pk for i, d in zip(keep, created)}
        stage_rows = []
        previous = {}
        for d, at, st, status in zip(h.sc_deal, h.sc_at, h.sc_stage, h.sc_status):
            if at > now or int(d) not in pk_of:
                continue
            prev = previous.get(int(d))
            to_status = {OPEN: "open", WON: "won", LOST: "lost"}[int(status)]
            stage_rows.append(
                events.StageChangeEvent(
                    deal_id=pk_of[int(d)],
                    from_stage_id=stages[prev[0]].pk if prev else None,
                    to_stage_id=stages[int(st)].pk,
                    from_status=prev[1] if prev else "",
                    to_status=to_status,
                    at=aware(at),
                    previous_since=aware(prev[2]) if prev else None,
                    lost_reason_id=reason.pk if int(status) == LOST else None,
                )
            )
            previous[int(d)] = (int(st), to_status, at)
        events.stage_changes_bulk_record(stage_rows)
        ch = h.field_changes("expected_close")
        change_rows = [
            events.DealChangeEvent(
                deal_id=pk_of[int(d)],
                field=DealField.EXPECTED_CLOSE,
                old_value=str(old),
                new_value=str(new),
                at=aware(at),
            )
            for d, at, old, new in zip(ch.deal, ch.at, ch.old, ch.new)
            if int(d) in pk_of and at <= now
        ]
        events.deal_changes_bulk_record(change_rows)
    return len(created)


def _shifted(h: History, shift) -> History:
    """The same history with every time moved by `shift` (dates by whole days)."""
    days = shift.astype("timedelta64[D]")
    ch = h.field_changes("expected_close")
    return History(
        **{
            **h.__dict__,
            "created_at": h.created_at + shift,
            "sc_at": h.sc_at + shift,
            "expected_close": h.expected_close + days,
            "changes": {"expected_close": FieldChanges(ch.deal, ch.at + shift, ch.old + days, ch.new + days)},
        },
    )
