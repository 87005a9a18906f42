"""Quotas against what was won: attainment per rep and team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
from django.db.models import QuerySet, Sum

from pipeline.models import Deal, DealStatus

from . import methods
from .models import Quota
from .periods import period_end, period_of_date, period_start
from .sums import Level, aware

@dataclass
class Attainment:
    quota: Quota
    won: Decimal

    @property
    def ratio(self) -> float | None:
        return float(self.won / self.quota.amount) if self.quota.amount else None


def quota_attainment(*, kind: str, start: date, deals: QuerySet[Deal] | None = None) -> list[Attainment]:
    """Every quota of the period with the amount won against it (two GROUP BY queries)."""
    deals = deals if deals is not None else Deal.objects.all()
    end = period_end(period_of_date(start, kind), kind)
    won = deals.filter(status=DealStatus.WON, closed_at__gte=aware(start), closed_at__lt=aware(end)).order_by()
    by_user = {
        (r["owner_id"], r["currency"]): r["total"]
        for r in won.values("owner_id", "currency").annotate(total=Sum("amount"))
    }
    by_team = {
        (r["owner__team_id"], r["currency"]): r["total"]
        for r in won.values("owner__team_id", "currency").annotate(total=Sum("amount"))
    }
    quotas = Quota.objects.filter(period_kind=kind, period_start=start).select_related("user", "team")
    return [
        Attainment(
            quota=q,
            won=(by_user.get((q.user_id, q.currency)) if q.user_id else by_team.get((q.team_id, q.currency)))
            or Decimal("0"),
        )
        for q in quotas
    ]


def quota_rows(calendars: list[methods.Calendar]) -> list[tuple]:
    """The quotas of the calendars' periods: (user, team, period kind, period start, currency,
    amount), one query."""
    kinds = {calendar.kind for calendar in calendars}
    starts = {period_start(c.first_period + j, c.kind) for c in calendars for j in range(c.horizon)}
    return list(
        Quota.objects.filter(period_kind__in=kinds, period_start__in=starts).values_list(
            "user_id", "team_id", "period_kind", "period_start", "currency", "amount"
        )
    )


def level_quotas(
    *, levels: list[Level], calendars: list[methods.Calendar], currencies: list[str], convert=None, missing=None,
    rows: list[tuple] | None = None,
) -> list[np.ndarray]:
    """Per calendar, the quota of each level, currency and period (NaN: none), as the dashboard
    sets its scope's target: an owner's own, a team's (the team's quota), and for a manager's
    people or the pipeline the sum of the reps' quotas (per currency, never across currencies).
    One query; quotas are configuration, a few rows per person and period.

    With `convert` (a currency's rate into the one currency of `currencies`, None when there is
    none, as currencies.rates.Rates.for_open), every quota counts converted; the currencies of
    quotas without a rate are added to the list `missing`. `rows` are the quota_rows read before
    (None: read them now)."""
    slots = {
        (calendar.kind, period_start(calendar.first_period + j, calendar.kind)): (k, j)
        for k, calendar in enumerate(calendars)
        for j in range(calendar.horizon)
    }
    code = {name: c for c, name in enumerate(currencies)}
    quotas = [np.full((len(levels), len(currencies), calendar.horizon), np.nan) for calendar in calendars]
    if rows is None:
        rows = quota_rows(calendars)
    for user_id, team_id, kind, start, currency, amount in rows:
        if (kind, start) not in slots:
            continue
        if convert is not None:
            rate = convert(currency)
            if rate is None:
                if missing is not None and currency not in missing:
                    missing.append(currency)
                continue
            currency, amount = currencies[0], amount * rate
        if currency not in code:
            continue  # no deal in that currency: nothing to forecast against it
        k, j = slots[(kind, start)]
        for n, level in enumerate(levels):
            if level.team is not None:
                counts = team_id == level.team
            elif level.owner is not None:
                counts = user_id == level.owner
            else:
                counts = user_id is not None and (level.owner_ids is None or user_id in level.owner_ids)
            if counts:
                cell = quotas[k][n, code[currency], j]
                quotas[k][n, code[currency], j] = (0.0 if np.isnan(cell) else cell) + float(amount)
    return quotas
