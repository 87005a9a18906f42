"""How each method would have done on a history: forecasts made at past period ends, scored.

At the end of every period after a warm-up, each method forecasts the money won in the next
period, seeing only what was recorded by then (`history.as_of`), and is scored against what was
won in that period — by any deal, including those created after the forecast was made, because
that is what a sales manager compares with. Beside the methods stand the naive baselines
(`baselines`): last period's actual, the mean of the last three, the same period a year ago.

Scores: WAPE (Σ|forecast − actual| / Σ actual), bias (Σ(forecast − actual) / Σ actual), the
Brier score of the win probabilities of the deals open at each cutoff (outcome: won by the end of
the history), and how often the actual fell inside the P10–P90 range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import methods, outlook
from .baselines import BASELINES, naive_forecasts, won_per_period
from .history import WON, History, as_of
from .periods import MONTH, period_label, period_of, period_start

METHODS = ("weighted", "learned", "montecarlo")
DEFAULT_WARMUP = 6


@dataclass
class Score:
    name: str
    wape: float
    bias: float
    brier: float = float("nan")
    coverage: float = float("nan")
    periods: int = 0


@dataclass
class Evaluation:
    kind: str
    currency: str
    scores: list[Score]
    periods: list[dict] = field(default_factory=list)  # per scored period: actual and each forecast

    def score(self, name: str) -> Score:
        return next(s for s in self.scores if s.name == name)

    @property
    def best_method(self) -> Score:
        return min((s for s in self.scores if s.name in METHODS), key=lambda s: s.wape)

    def summary(self) -> dict | None:
        """JSON-safe: each method's and baseline's scores, and the method that did best (lowest
        WAPE); None when no period could be scored."""
        if not any(s.periods for s in self.scores if s.name in METHODS):
            return None

        def number(value):
            return None if value is None or np.isnan(value) else round(float(value), 4)

        return {
            "kind": self.kind,
            "currency": self.currency,
            "periods": max(s.periods for s in self.scores),
            "best": self.best_method.name,
            "scores": [
                {
                    "name": s.name,
                    "method": s.name in METHODS,
                    "wape": number(s.wape),
                    "bias": number(s.bias),
                    "coverage": number(s.coverage),
                    "periods": s.periods,
                }
                for s in self.scores
            ],
        }

    @property
    def best_baseline(self) -> Score:
        usable = [s for s in self.scores if s.name in BASELINES and s.periods]
        return min(usable, key=lambda s: s.wape)


def history_end(history: History) -> np.datetime64:
    """The last moment anything was recorded."""
    times = [history.created_at.max()] if history.n_deals else []
    if len(history.sc_at):
        times.append(history.sc_at.max())
    return max(times) if times else np.datetime64("NaT", "s")


def evaluate(
    history: History,
    *,
    kind: str = MONTH,
    warmup: int = DEFAULT_WARMUP,
    simulations: int = 1000,
    seed: int = 0,
    currency: str | None = None,
    end=None,
) -> Evaluation:
    """Score every method and baseline on each period after the first `warmup` ones that ended
    by `end` (default: the history's last record)."""
    end = np.datetime64(end, "s") if end is not None else history_end(history)
    final = as_of(history, end)
    won = final.status == WON
    if currency is None:  # amounts in different currencies are never added: score the main one
        currency = main_currency(final.currency[won].astype(str), np.nan_to_num(final.amount[won]))
    mine = won & (final.currency.astype(str) == currency)
    won_period = period_of(final.status_since[mine].astype("datetime64[D]"), kind)
    first = int(period_of(history.created_at.min().astype("datetime64[D]")[None], kind)[0])
    # The last period that ended by `end`.
    last = int(period_of((end + np.timedelta64(1, "s")).astype("datetime64[D]")[None], kind)[0]) - 1
    actuals = won_per_period(won_period, np.nan_to_num(final.amount[mine]), first, last - first + 1)
    eventually_won = np.zeros(history.n_deals)
    eventually_won[final.index[won]] = 1.0

    collected = {name: {"f": [], "a": [], "lo": [], "hi": [], "p": [], "y": []} for name in METHODS + BASELINES}
    rows = []
    for target in range(first + warmup, last + 1):  # one forecast per scored period
        cutoff = np.datetime64(period_start(target, kind), "s") - np.timedelta64(1, "s")
        book = as_of(history, cutoff)
        book = book.subset(book.currency.astype(str) == currency)
        actual = float(actuals[target - first])
        row = {"period": period_label(target, kind), "actual": actual}
        parts = outlook.Parts(history, book, kind=kind, first_period=target, horizon=1)
        results = {
            "weighted": outlook.weighted_outlook(history, book, kind=kind, first_period=target, horizon=1, parts=parts),
            "learned": outlook.learned_outlook(history, book, kind=kind, first_period=target, horizon=1, parts=parts),
            "montecarlo": outlook.montecarlo_outlook(
                history, book, kind=kind, first_period=target, horizon=1, parts=parts, simulations=simulations,
                seed=seed + target,
            ),  # fmt: skip
        }
        open_ = book.status == 0
        outcome = eventually_won[book.index[open_]]
        for name, result in results.items():
            c = collected[name]
            f, lo, hi = _cell(result, currency)
            c["f"].append(f), c["a"].append(actual), c["lo"].append(lo), c["hi"].append(hi)
            c["p"].append(result.deal_probability[open_]), c["y"].append(outcome)
            row[name] = (f, lo, hi)
        row["new_business"] = float(parts.runrate.expected.sum())
        for name, value in naive_forecasts(actuals, first, target, kind).items():
            if not np.isnan(value):
                c = collected[name]
                c["f"].append(value), c["a"].append(actual)
            row[name] = value
        rows.append(row)

    scores = []
    for name in METHODS + BASELINES:
        c = collected[name]
        f, a = np.array(c["f"]), np.array(c["a"])
        score = Score(name, methods.wape(f, a), methods.bias(f, a), periods=len(f))
        if c["lo"]:
            lo, hi = np.array(c["lo"]), np.array(c["hi"])
            score.coverage = float(np.mean((a >= lo) & (a <= hi)))
            score.brier = methods.brier(np.concatenate(c["p"]), np.concatenate(c["y"]))
        scores.append(score)
    return Evaluation(kind=kind, currency=currency, scores=scores, periods=rows)


def main_currency(currency: np.ndarray, amount: np.ndarray, default: str = "EUR") -> str:
    """The currency most money was won in."""
    if not len(currency):
        return default
    names, codes = np.unique(currency, return_inverse=True)
    return str(names[np.argmax(np.bincount(codes, weights=amount))])


def _cell(result: methods.PeriodForecast, currency: str) -> tuple[float, float, float]:
    if currency not in result.currencies:
        return 0.0, 0.0, 0.0
    c = result.currencies.index(currency)
    return float(result.expected[c, 0]), float(result.p10[c, 0]), float(result.p90[c, 0])


def pooled(evaluations: list[Evaluation]) -> list[Score]:
    """Scores over the periods of several evaluations together (e.g. several seeds)."""
    out = []
    for name in METHODS + BASELINES:
        f, a, inside, briers = [], [], [], []
        for e in evaluations:
            for row in e.periods:
                value = row[name]
                if isinstance(value, tuple):
                    f.append(value[0]), a.append(row["actual"]), inside.append(value[1] <= row["actual"] <= value[2])
                elif not np.isnan(value):
                    f.append(value), a.append(row["actual"])
            briers.append((e.score(name).brier, e.score(name).periods))
        f, a = np.array(f), np.array(a)
        score = Score(name, methods.wape(f, a), methods.bias(f, a), periods=len(f))
        if inside:
            score.coverage = float(np.mean(inside))
            weights = np.array([w for _, w in briers], float)
            score.brier = float(np.average([b for b, _ in briers], weights=weights)) if weights.sum() else float("nan")
        out.append(score)
    return out
