"""Floors for the forecast rows: hand-written SQL over the same deals that returns the same sums
as the forecast recompute's database side, and the one query that loads what the Monte Carlo
simulation needs. Timed in the same run as the code they are compared with."""
from datetime import date

from django.db import connection

from forecasting.periods import MONTH, period_of_date, period_start
from forecasting.snapshots import SNAPSHOT_HORIZONS


def _period(column: str, kind: str) -> str:
    """The first day of the month or quarter holding `column`, in the database's dialect."""
    if connection.vendor == "postgresql":
        return f"date_trunc('{'month' if kind == MONTH else 'quarter'}', {column})::date"
    if kind == MONTH:
        return f"date({column}, 'start of month')"
    # SQLite has no quarters: back up (month - 1) % 3 months from the start of the month.
    return (
        f"date({column}, 'start of month', '-' || ((CAST(strftime('%%m', {column}) AS INTEGER) - 1) %% 3) || ' months')"
    )


def _greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if connection.vendor == "postgresql" else f"MAX({a}, {b})"


def _date_literal(day: date) -> str:
    # A date we computed (never user input), inlined because the period expression repeats it.
    return f"DATE '{day.isoformat()}'" if connection.vendor == "postgresql" else f"'{day.isoformat()}'"


def _sums_sql(kind: str, start: date) -> tuple[str, str]:
    p = "COALESCE(d.probability, s.probability)"
    opened = (
        f"SELECT d.owner_id, d.currency, {_period(_greatest('d.expected_close', _date_literal(start)), kind)} AS period,"
        " d.forecast_category,"
        f" SUM(COALESCE(d.amount, 0) * {p} / 100.0),"
        f" SUM(CAST(d.amount AS DOUBLE PRECISION) * CAST(d.amount AS DOUBLE PRECISION) * {p} * (100 - {p}) / 10000.0),"
        " SUM(d.amount)"
        " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id"
        " WHERE d.pipeline_id = %s AND d.status = 'open' AND d.expected_close IS NOT NULL AND d.expected_close < %s"
        " GROUP BY 1, 2, 3, 4"
    )
    won = (
        f"SELECT d.owner_id, d.currency, {_period('d.closed_at', kind)} AS period, SUM(d.amount)"
        " FROM pipeline_deal d"
        " WHERE d.pipeline_id = %s AND d.status = 'won' AND d.closed_at >= %s AND d.closed_at < %s"
        " GROUP BY 1, 2, 3"
    )
    return opened, won


TOTALS_SQL = (
    "SELECT d.currency, SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0), SUM(d.amount)"
    " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id"
    " WHERE d.pipeline_id = %s AND d.status = 'open' GROUP BY d.currency"
)


def recompute_sums(*, pipeline_id: int, as_of: date | None = None) -> list:
    """The sums a snapshot is built from, for every period kind it covers: weighted amount,
    variance and open amount per owner, currency, period and forecast category; won amount per
    owner, currency and period; the open pipeline's weighted and total amount per currency."""
    as_of = as_of or date.today()
    out = []
    with connection.cursor() as cursor:
        for kind, horizon in SNAPSHOT_HORIZONS.items():
            first = period_of_date(as_of, kind)
            start, end = period_start(first, kind), period_start(first + horizon, kind)
            opened, won = _sums_sql(kind, start)
            cursor.execute(opened, [pipeline_id, end])
            out.append(cursor.fetchall())
            cursor.execute(won, [pipeline_id, start, end])
            out.append(cursor.fetchall())
        cursor.execute(TOTALS_SQL, [pipeline_id])
        out.append(cursor.fetchall())
    return out


MONTECARLO_COLUMNS_SQL = (
    "SELECT d.id, d.owner_id, d.stage_id, d.status, d.amount, d.currency, d.expected_close, d.probability"
    " FROM pipeline_deal d WHERE d.pipeline_id = %s AND d.status = 'open'"
)


def montecarlo_load(*, pipeline_id: int) -> int:
    """Load the open deals' columns the simulation reads (stage, amount, currency, close date,
    probability override): the least any Monte Carlo run has to fetch."""
    with connection.cursor() as cursor:
        cursor.execute(MONTECARLO_COLUMNS_SQL, [pipeline_id])
        return len(cursor.fetchall())

