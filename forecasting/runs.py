"""A forecast as of any day, rebuilt from the stage history: what the `forecast` command, the
backtests, the accuracy of past periods and the API's past days ask for. Sees only what was known
on that day; the maths is in `forecasting.methods`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from pipeline.models import Pipeline

from currencies.rates import ConvertedSums

from . import conversion, methods
from .history import WON, Book, History, as_of as book_as_of
from .loading import load_history
from .models import Method
from .outlook import forecast as outlook_forecast
from .periods import QUARTER, first_forecast_period

METHOD_NAMES = (Method.WEIGHTED, Method.LEARNED, Method.MONTECARLO)


@dataclass
class ForecastRun:
    result: methods.PeriodForecast
    book: Book
    history: History
    model: methods.LearnedModel | None
    conversion: dict | None = None  # with `convert`: conversion.Conversion.as_dict()


def default_pipeline_id() -> int | None:
    pipeline = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
    return pipeline.pk if pipeline else None


def forecast_run(
    *,
    as_of: date,
    method: str,
    kind: str = QUARTER,
    horizon: int = 2,
    pipeline_id: int | None = None,
    owner_ids: list[int] | None = None,
    simulations: int = methods.DEFAULT_SIMULATIONS,
    seed: int = 0,
    quota: dict | None = None,
    history: History | None = None,
    outlook: bool = False,
    convert: bool = False,
) -> ForecastRun:
    """Forecast the periods from the one holding the day after `as_of` (on a period's last day,
    the next one), seeing only what was known then.

    Probabilities are learned from the whole pipeline; `owner_ids` narrows the deals summed. With
    `outlook`, the methods take their timing from the history (`forecasting.outlook`: overdue
    and undated deals spread over the periods ahead, stale deals fading) and learned and Monte
    Carlo add the new business not yet in the pipeline. With `convert`, every deal is converted
    into the reporting currency first (`forecasting.conversion`: open deals at the rate of
    `as_of`, won ones at that of the day they were won; those without a rate are left out and
    listed in `conversion`), so the result has that one currency."""
    if method not in METHOD_NAMES:
        raise ValueError(f"unknown method {method!r}")
    pipeline_id = pipeline_id or default_pipeline_id()
    history = history if history is not None else load_history(pipeline_id=pipeline_id)
    book = book_as_of(history, as_of)
    if owner_ids is not None:
        book = book.subset(np.isin(book.owner_id, list(owner_ids)))
    converted = None
    if convert:
        if outlook:
            raise ValueError("the outlook's new business is fitted per currency: it cannot be converted here")
        currencies = [str(c) for c in np.unique(book.currency.astype(str))]
        won = book.status == WON
        first_won = book.status_since[won].min().astype("datetime64[D]").item() if won.any() else None
        rules = conversion.rules_for(currencies, as_of=as_of, first_won=first_won)
        notes = ConvertedSums(rules.currency)
        book = conversion.convert_book(book, rules, notes)
        converted = conversion.conversion_of(rules, currencies, notes).as_dict()
    first = first_forecast_period(as_of, kind)
    model = None
    if outlook:
        result = outlook_forecast(
            history, book, method=method, kind=kind, first_period=first, horizon=horizon,
            simulations=simulations, seed=seed, quota=quota,
        )  # fmt: skip
    elif method == Method.WEIGHTED:
        result = methods.weighted(history, book, kind=kind, first_period=first, horizon=horizon)
    else:
        model = methods.fit_learned(history, as_of)
        if method == Method.LEARNED:
            result = methods.learned(model, book, kind=kind, first_period=first, horizon=horizon)
        else:
            result = methods.montecarlo(
                model,
                book,
                kind=kind,
                first_period=first,
                horizon=horizon,
                simulations=simulations,
                seed=seed,
                quota=quota,
            )
    return ForecastRun(result=result, book=book, history=history, model=model, conversion=converted)
