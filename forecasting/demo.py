"""Demo quotas and forecast categories, so that a new installation's dashboard shows attainment
and a commit figure instead of dashes and zeros (`make run`: seed_forecast_demo after seed_demo).

Quotas are set per demo rep and team for the last four quarters and the next two, from what each
won on average per quarter in the demo history (rounded to thousands, a little above it: quotas
stretch). Open deals get the category a rep would give them: late stages commit or best case,
early ones pipeline, a few omitted.
"""
import random
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from accounts.models import Role, Team, User
from pipeline.demo import DEMO_TEAMS, DEMO_USERS
from pipeline.models import Deal, DealStatus, ForecastCategory, Stage, StageKind

from .models import PeriodKind, Quota
from .periods import QUARTER, period_of_date, period_start

PAST_QUARTERS = 4
FUTURE_QUARTERS = 2
STRETCH = Decimal("1.15")


@dataclass
class DemoForecastResult:
    quotas: int
    categorised: int


def _rounded(amount: Decimal) -> Decimal:
    return max(Decimal("10000"), (amount / 1000).quantize(Decimal("1")) * 1000)


def _category(rng: random.Random, position: int, last_open: int) -> str:
    if rng.random() < 0.05:
        return ForecastCategory.OMITTED
    if position >= last_open:
        return ForecastCategory.COMMIT if rng.random() < 0.7 else ForecastCategory.BEST_CASE
    if position == last_open - 1:
        return ForecastCategory.BEST_CASE if rng.random() < 0.6 else ForecastCategory.PIPELINE
    return ForecastCategory.PIPELINE


@transaction.atomic
def seed_forecast_demo(*, seed: int = 42) -> DemoForecastResult:
    """Quotas for the demo people and teams and categories for open deals in the default category.
    Does nothing when quotas exist (they are someone's; `make run` calls this every time)."""
    if Quota.objects.exists():
        return DemoForecastResult(quotas=0, categorised=0)
    rng = random.Random(seed)
    currency = settings.STAGEFLOW["DEFAULT_CURRENCY"]
    today = timezone.localdate()
    current = period_of_date(today, QUARTER)
    quarters = range(current - PAST_QUARTERS, current + FUTURE_QUARTERS)
    first_day = period_start(quarters[0], QUARTER)

    won = Deal.objects.filter(status=DealStatus.WON, currency=currency, closed_at__date__gte=first_day)
    by_owner = dict(won.values("owner__username").annotate(total=Sum("amount")).values_list("owner__username", "total"))
    reps = [spec for spec in DEMO_USERS if spec.role in (Role.REP, Role.MANAGER) and spec.share]
    users = {u.username: u for u in User.objects.filter(username__in=[spec.username for spec in reps])}
    quotas = []
    team_totals: dict[str, Decimal] = {}
    for spec in reps:
        user = users.get(spec.username)
        if user is None:
            continue
        per_quarter = _rounded(Decimal(by_owner.get(spec.username) or 0) / PAST_QUARTERS * STRETCH)
        team_totals[spec.team] = team_totals.get(spec.team, Decimal("0")) + per_quarter
        quotas += [
            Quota(user=user, period_kind=PeriodKind.QUARTER, period_start=period_start(q, QUARTER), currency=currency,
                  amount=per_quarter)
            for q in quarters
        ]
    for team in Team.objects.filter(name__in=DEMO_TEAMS):
        amount = team_totals.get(team.name)
        if amount:
            quotas += [
                Quota(team=team, period_kind=PeriodKind.QUARTER, period_start=period_start(q, QUARTER),
                      currency=currency, amount=amount)
                for q in quarters
            ]
    created = Quota.objects.bulk_create(quotas)

    open_deals = list(
        Deal.objects.filter(status=DealStatus.OPEN, forecast_category=ForecastCategory.PIPELINE)
        .select_related("stage").order_by("pk")
    )
    last_open = dict(
        Stage.objects.filter(kind=StageKind.OPEN).values("pipeline_id").annotate(last=Max("position"))
        .values_list("pipeline_id", "last")
    )
    for deal in open_deals:
        deal.forecast_category = _category(rng, deal.stage.position, last_open[deal.pipeline_id])
    Deal.objects.bulk_update(open_deals, ["forecast_category"], batch_size=1000)
    changed = sum(1 for deal in open_deals if deal.forecast_category != ForecastCategory.PIPELINE)
    return DemoForecastResult(quotas=len(created), categorised=changed)
