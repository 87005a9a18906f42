"""The forecast behind `GET /api/v1/forecast/`.

It runs the forecasting engine (`forecasting.services.forecast_run`: weighted, learned and Monte
Carlo, as of any past date) when the installation has it. Without the engine, the weighted method
as of today is computed here in one GROUP BY query, with the same weighted-amount expression as
the board; the other methods and past dates are then refused with a 400 rather than answered
with numbers that would be wrong.

Scope, as on the forecast dashboard: reps see their own numbers, managers their people's, admins
everyone's.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import DateField, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate, TruncMonth, TruncQuarter
from django.utils import timezone
from django.utils.translation import gettext as _

from pipeline import selectors
from pipeline.exceptions import PipelineError
from pipeline.models import Deal, DealStatus, Pipeline

CENT = Decimal("0.01")
FALLBACK_METHODS = {"weighted"}


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


def scope_owner_ids(user) -> list[int] | None:
    """Whose deals the user's forecast adds up; None means everyone's."""
    if user.is_admin:
        return None
    if user.is_manager:
        return list(selectors.visible_users(user).values_list("pk", flat=True))
    return [user.pk]


def _engine():
    from forecasting import services

    return getattr(services, "forecast_run", None)


def forecast(*, user, pipeline: Pipeline, method: str, period: str, as_of: date | None, horizon: int) -> dict:
    today = timezone.localdate()
    as_of = as_of or today
    if as_of > today:
        raise PipelineError(_("A forecast cannot be made as of a future date."), code="as_of_future")
    windows = periods(as_of, period, horizon)
    owner_ids = scope_owner_ids(user)
    engine = _engine()
    if engine is not None:
        run = engine(
            as_of=as_of, method=method, kind=period, horizon=horizon, pipeline_id=pipeline.pk,
            owner_ids=owner_ids, seed=as_of.toordinal(),
        )
        amounts: dict[str, list[dict]] = {}
        for row in run.result.rows():
            amounts.setdefault(row["period"], []).append(
                {key: row[key] for key in ("currency", "won", "expected", "p10", "p50", "p90")}
            )
    else:
        amounts = _weighted_today(pipeline=pipeline, owner_ids=owner_ids, method=method, as_of=as_of,
                                  today=today, windows=windows, kind=period)
    return {
        "method": method,
        "period": period,
        "as_of": as_of,
        "pipeline": pipeline.pk,
        "periods": [
            {"period": w.key, "start": w.start, "end": w.end, "amounts": amounts.get(w.key, [])} for w in windows
        ],
    }


def _as_day(value) -> date:
    if isinstance(value, datetime):  # PostgreSQL hands back a timestamp from GREATEST / DATE_TRUNC
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite hands back text


def _weighted_today(*, pipeline, owner_ids, method, as_of, today, windows, kind) -> dict[str, list[dict]]:
    if method not in FALLBACK_METHODS:
        raise PipelineError(
            _("The “%(method)s” forecast is not available in this installation; use “weighted”.") % {"method": method},
            code="method_unavailable",
        )
    if as_of != today:
        raise PipelineError(
            _("Forecasts as of another day than today are not available in this installation."),
            code="as_of_unavailable",
        )
    trunc = TruncQuarter if kind == "quarter" else TruncMonth
    first, last = windows[0], windows[-1]
    deals = Deal.objects.filter(pipeline=pipeline)
    if owner_ids is not None:
        deals = deals.filter(owner_id__in=owner_ids)
    # Overdue open deals still count: they are expected in the current period.
    expected = (
        deals.filter(status=DealStatus.OPEN, expected_close__isnull=False, expected_close__lte=last.end)
        .annotate(bucket=Greatest(trunc("expected_close", output_field=DateField()), Value(first.start)))
        .order_by()
        .values("bucket", "currency")
        .annotate(value=Coalesce(Sum(selectors.weighted_amount_expression()), Value(Decimal("0"))))
    )
    won = (
        deals.filter(status=DealStatus.WON, closed_at__date__gte=first.start, closed_at__date__lte=last.end)
        .annotate(bucket=trunc(TruncDate("closed_at"), output_field=DateField()))
        .order_by()
        .values("bucket", "currency")
        .annotate(value=Coalesce(Sum("amount"), Value(Decimal("0"))))
    )
    keys = {w.start: w.key for w in windows}
    cells: dict[tuple[str, str], dict] = {}
    for field, rows in (("expected", expected), ("won", won)):
        for row in rows:
            key = keys[_as_day(row["bucket"])]
            cell = cells.setdefault(
                (key, row["currency"]), {"currency": row["currency"], "won": Decimal("0"), "expected": Decimal("0")}
            )
            cell[field] = Decimal(row["value"]).quantize(CENT)
    result: dict[str, list[dict]] = {}
    for (key, _currency), cell in sorted(cells.items()):
        # The weighted method has no spread: its range collapses to the expected value.
        cell.update(p10=cell["expected"], p50=cell["expected"], p90=cell["expected"])
        result.setdefault(key, []).append(cell)
    return result
