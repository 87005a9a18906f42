"""The forecast behind `GET /api/v1/forecast/`.

The weighted method is computed here in one GROUP BY query over the deals the user may see, with
the same weighted-amount expression the board and forecasting.services use. The other methods
and forecasts as of a past date need the forecasting engine's history replay; until that exists
they are refused with a 400 rather than answered with numbers that would be wrong.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DateField, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncMonth, TruncQuarter
from django.utils import timezone
from django.utils.translation import gettext as _

from pipeline import selectors
from pipeline.exceptions import PipelineError
from pipeline.models import DealStatus, Pipeline

CENT = Decimal("0.01")
AVAILABLE_METHODS = {"weighted"}


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date  # inclusive


def period_containing(day: date, kind: str) -> Period:
    if kind == "quarter":
        q = (day.month - 1) // 3
        start = date(day.year, q * 3 + 1, 1)
        key = f"{day.year}-Q{q + 1}"
    else:
        start = date(day.year, day.month, 1)
        key = f"{day.year}-{day.month:02d}"
    months = 3 if kind == "quarter" else 1
    month_index = start.month - 1 + months
    next_start = date(start.year + month_index // 12, month_index % 12 + 1, 1)
    return Period(key=key, start=start, end=next_start - timedelta(days=1))


def periods(as_of: date, kind: str, horizon: int) -> list[Period]:
    result = [period_containing(as_of, kind)]
    while len(result) < horizon:
        result.append(period_containing(result[-1].end + timedelta(days=1), kind))
    return result


def _amount_row(row) -> dict:
    expected = Decimal(row["weighted"]).quantize(CENT)
    return {
        "currency": row["currency"],
        "deals": row["n"],
        "total": Decimal(row["total"]).quantize(CENT),
        "expected": expected,
        # The weighted method has no spread: its range collapses to the expected value.
        "p10": expected,
        "p50": expected,
        "p90": expected,
    }


def forecast(*, user, pipeline: Pipeline, method: str, period: str, as_of: date | None, horizon: int) -> dict:
    today = timezone.localdate()
    as_of = as_of or today
    if method not in AVAILABLE_METHODS:
        raise PipelineError(
            _("The “%(method)s” forecast is not available yet; use “weighted”.") % {"method": method},
            code="method_unavailable",
        )
    if as_of != today:
        raise PipelineError(
            _("Forecasts as of another day than today are not available yet."), code="as_of_unavailable"
        )
    windows = periods(as_of, period, horizon)
    trunc = TruncQuarter if period == "quarter" else TruncMonth
    first, last = windows[0], windows[-1]
    deals = selectors.visible_deals(user).filter(pipeline=pipeline, status=DealStatus.OPEN)
    sums = {
        "n": Count("pk"),
        "total": Coalesce(Sum("amount"), Value(Decimal("0"))),
        "weighted": Coalesce(Sum(selectors.weighted_amount_expression()), Value(Decimal("0"))),
    }
    # Overdue open deals still count: they are expected in the current period.
    dated = (
        deals.filter(expected_close__isnull=False, expected_close__lte=last.end)
        .annotate(bucket=Greatest(trunc("expected_close", output_field=DateField()), Value(first.start)))
        .order_by()
        .values("bucket", "currency")
        .annotate(**sums)
        .order_by("bucket", "currency")
    )
    by_start: dict[date, list[dict]] = {}
    for row in dated:
        bucket = row["bucket"]
        if isinstance(bucket, datetime):  # PostgreSQL's GREATEST of a truncated date and a date
            bucket = bucket.date()
        elif not isinstance(bucket, date):  # SQLite hands back text
            bucket = date.fromisoformat(str(bucket)[:10])
        by_start.setdefault(bucket, []).append(_amount_row(row))
    undated = (
        deals.filter(expected_close__isnull=True).order_by().values("currency").annotate(**sums).order_by("currency")
    )
    return {
        "method": method,
        "period": period,
        "as_of": as_of,
        "pipeline": pipeline.pk,
        "periods": [
            {"period": w.key, "start": w.start, "end": w.end, "amounts": by_start.get(w.start, [])} for w in windows
        ],
        "undated": [_amount_row(row) for row in undated],
    }
