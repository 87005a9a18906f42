"""The forecast behind `GET /api/v1/forecast/`: the forecasting engine's `forecast_run` (weighted,
learned or Monte Carlo, as of any past date, seeing only what was known then), shaped for clients.

Scope, as on the forecast dashboard: reps see their own numbers, managers their people's, admins
everyone's. Each period lists its amounts per currency and, in `in_reporting_currency`, the same
forecast with every deal converted into the reporting currency (currencies.rates); the rates used
and the amounts left out for want of one are in `conversion`.
"""
import dataclasses
from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from currencies.money import round_money
from currencies.rates import open_deals_basis, reporting_currency
from forecasting import conversion, runs
from forecasting.periods import period_end, period_label, period_start
from pipeline import selectors
from pipeline.exceptions import PipelineError
from pipeline.models import Pipeline

AMOUNT_KEYS = ("currency", "won", "expected", "p10", "p50", "p90")


def scope_owner_ids(user) -> list[int] | None:
    """Whose deals the user's forecast adds up; None means everyone's."""
    if user.is_admin:
        return None
    if user.is_manager:
        return list(selectors.visible_users(user).values_list("pk", flat=True))
    return [user.pk]


def forecast(*, user, pipeline: Pipeline, method: str, period: str, as_of: date | None, horizon: int) -> dict:
    today = timezone.localdate()
    as_of = as_of or today
    if as_of > today:
        raise PipelineError(_("A forecast cannot be made as of a future date."), code="as_of_future")
    question = dict(
        as_of=as_of, method=method, kind=period, horizon=horizon, pipeline_id=pipeline.pk,
        owner_ids=scope_owner_ids(user), seed=as_of.toordinal(),  # the same answer for the same question
    )
    run = runs.forecast_run(**question)
    if conversion.needed(run.book.currency.astype(str)):
        # The same forecast with every deal in the reporting currency (the history is read once).
        converted = runs.forecast_run(**question, history=run.history, convert=True)
    else:  # every deal is in the reporting currency already
        converted = dataclasses.replace(run, conversion=conversion.Conversion(
            currency=reporting_currency(), basis=open_deals_basis(), as_of=as_of, rates={}, missing=[]
        ).as_dict())  # fmt: skip
    amounts: dict[str, list[dict]] = {}
    for row in run.result.rows():
        amounts.setdefault(row["period"], []).append({key: row[key] for key in AMOUNT_KEYS})
    reporting = converted.conversion["currency"]
    in_reporting = {
        row["period"]: {key: round_money(row[key], reporting) if key != "currency" else row[key] for key in AMOUNT_KEYS}
        for row in converted.result.rows(empty_currency=reporting)
    }
    first = run.result.first_period  # on a period's last day, the next period
    numbers = range(first, first + horizon)
    return {
        "method": method,
        "period": period,
        "as_of": as_of,
        "pipeline": pipeline.pk,
        "periods": [
            {
                "period": period_label(n, period),
                "start": period_start(n, period),
                "end": period_end(n, period) - timedelta(days=1),
                "amounts": amounts.get(period_label(n, period), []),
                "in_reporting_currency": in_reporting.get(period_label(n, period)),
            }
            for n in numbers
        ],
        "reporting_currency": reporting,
        "conversion": {
            "basis": converted.conversion["basis"],
            "rates": converted.conversion["rates"],
            "missing_rates": converted.conversion["missing"],
        },
    }
