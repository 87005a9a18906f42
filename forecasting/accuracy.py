"""How good past forecasts were: each closed period's forecast rebuilt as of the evening before it
began, against what was won in it (WAPE, bias, P10–P90 coverage, Brier score, calibration)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.utils import timezone

from . import methods
from .history import History, as_of as book_as_of
from .loading import load_history
from .models import Method
from .periods import QUARTER, period_end, period_label, period_of_date, period_start
from .runs import default_pipeline_id, forecast_run

@dataclass
class Accuracy:
    periods: list[dict]  # period, currency, forecast, p10, p90, won
    by_currency: dict[str, dict]  # currency → {"wape", "bias", "coverage"}: money is never mixed
    brier: float
    calibration: list[dict]

    def _main(self, name: str) -> float:
        """The figure of the currency with the most won (for a one-line summary)."""
        if not self.by_currency:
            return float("nan")
        won = {c: sum(r["won"] for r in self.periods if r["currency"] == c) for c in self.by_currency}
        value = self.by_currency[max(won, key=won.get)][name]
        return float("nan") if value is None else value

    @property
    def wape(self) -> float:
        return self._main("wape")

    @property
    def bias(self) -> float:
        return self._main("bias")


def forecast_accuracy(
    *,
    method: str = Method.LEARNED,
    kind: str = QUARTER,
    periods: int = 4,
    pipeline_id: int | None = None,
    owner_ids: list[int] | None = None,
    today: date | None = None,
    simulations: int = 500,
    history: History | None = None,
) -> Accuracy:
    """For each of the last `periods` closed periods: the forecast made the evening before it
    started (rebuilt as of then) against what was won in it; WAPE and bias over them, and the
    Brier score and calibration of the probabilities given to the deals open at each start.
    `history`: the pipeline's, when the caller has loaded it already."""
    today = today or timezone.localdate()
    pipeline_id = pipeline_id or default_pipeline_id()
    history = history if history is not None else load_history(pipeline_id=pipeline_id)
    now_book = book_as_of(history, today)
    final_status = np.full(history.n_deals, -1, np.int8)
    final_status[now_book.index] = now_book.status
    current = period_of_date(today, kind)
    table, probs, outcomes = [], [], []
    for number in range(current - periods, current):
        start = period_start(number, kind)
        eve = start - timedelta(days=1)
        run = forecast_run(
            as_of=eve,
            method=method,
            kind=kind,
            horizon=1,  # made on the eve of the period: the forecast starts with it
            pipeline_id=pipeline_id,
            owner_ids=owner_ids,
            simulations=simulations,
            history=history,
        )
        end_book = book_as_of(history, period_end(number, kind) - timedelta(days=1))
        if owner_ids is not None:
            end_book = end_book.subset(np.isin(end_book.owner_id, list(owner_ids)))
        won_result = methods.weighted(history, end_book, kind=kind, first_period=number, horizon=1)
        result = run.result
        for c, currency in enumerate(result.currencies):
            w = won_result.currencies.index(currency) if currency in won_result.currencies else None
            table.append(
                {
                    "period": period_label(number, kind),
                    "currency": currency,
                    "forecast": float(result.expected[c, 0]),
                    "p10": float(result.p10[c, 0]),
                    "p90": float(result.p90[c, 0]),
                    "won": float(won_result.won[w, 0]) if w is not None else 0.0,
                }
            )
        opened = run.book.status == 0
        outcome = final_status[run.book.index[opened]]
        closed = outcome > 0
        probs.append(run.result.deal_probability[opened][closed])
        outcomes.append((outcome[closed] == 1).astype(float))
    by_currency = {}
    for currency in sorted({r["currency"] for r in table}):
        rows = [r for r in table if r["currency"] == currency]
        f, a = np.array([r["forecast"] for r in rows]), np.array([r["won"] for r in rows])
        lo, hi = np.array([r["p10"] for r in rows]), np.array([r["p90"] for r in rows])
        by_currency[currency] = {
            "wape": _finite(methods.wape(f, a)),
            "bias": _finite(methods.bias(f, a)),
            "coverage": float(np.mean((a >= lo) & (a <= hi))),
        }
    p = np.concatenate(probs) if probs else np.zeros(0)
    y = np.concatenate(outcomes) if outcomes else np.zeros(0)
    return Accuracy(
        periods=table,
        by_currency=by_currency,
        brier=methods.brier(p, y),
        calibration=methods.calibration(p, y),
    )


def _finite(value: float) -> float | None:
    """NaN (nothing was won, so the ratio has no meaning) as None."""
    return None if np.isnan(value) else value
