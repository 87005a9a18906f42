"""Fast, deterministic bulk data for benchmarks: N open deals spread over the default pipeline.

Not the demo data (see seed_demo): this writes the minimum a board needs, as quickly as
bulk inserts allow, so that 100,000 deals are ready in seconds.
"""
import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from pipeline.models import Deal, DealStatus, Lead, Pipeline, StageChange

BATCH = 5000
TEAMS = ("North", "South", "East", "West")
REPS_PER_TEAM = 10


def bench_users(*, reps_per_team: int = REPS_PER_TEAM) -> dict[str, User]:
    users = {}
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"role": Role.ADMIN, "is_staff": True, "is_superuser": True}
    )
    users["admin"] = admin
    for team_name in TEAMS:
        team, _ = Team.objects.get_or_create(name=team_name)
        manager, _ = User.objects.get_or_create(
            username=f"bench-mgr-{team_name.lower()}", defaults={"role": Role.MANAGER, "team": team}
        )
        team.manager = manager
        team.save(update_fields=["manager"])
        for i in range(reps_per_team):
            User.objects.get_or_create(username=f"bench-rep-{team_name.lower()}-{i}", defaults={"role": Role.REP, "team": team})
    users["rep"] = User.objects.get(username="bench-rep-north-0")
    users["manager"] = User.objects.get(username="bench-mgr-north")
    return users


def seed_open_deals(n: int, *, seed: int = 7) -> None:
    """Create n open deals (and one lead and one StageChange each) in the default pipeline."""
    rng = random.Random(seed)
    pipeline = Pipeline.objects.get(is_default=True)
    stages = [s for s in pipeline.stages.order_by("position") if s.kind == "open"]
    weights = [30, 25, 18, 15, 12][: len(stages)]
    owners = list(User.objects.filter(role=Role.REP).values_list("pk", flat=True))
    now = timezone.now()
    created = 0
    with transaction.atomic():
        while created < n:
            size = min(BATCH, n - created)
            leads = Lead.objects.bulk_create(
                [Lead(name=f"Company {created + i:06d}", industry="Software", country="DE") for i in range(size)]
            )
            deals = []
            for i, lead in enumerate(leads):
                stage = rng.choices(stages, weights)[0]
                entered = now - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
                deals.append(
                    Deal(
                        pipeline=pipeline,
                        stage=stage,
                        lead=lead,
                        title=f"Deal {created + i:06d}",
                        amount=Decimal(rng.randrange(1_000, 200_000)) if rng.random() > 0.05 else None,
                        currency="EUR" if rng.random() < 0.9 else "USD",
                        expected_close=(now + timedelta(days=rng.randint(-20, 200))).date(),
                        status=DealStatus.OPEN,
                        owner_id=rng.choice(owners),
                        stage_entered_at=entered,
                        created_at=entered - timedelta(days=rng.randint(0, 60)),
                        next_step="Call back",
                    )
                )
            deals = Deal.objects.bulk_create(deals)
            StageChange.objects.bulk_create(
                [
                    StageChange(deal=d, from_stage=None, to_stage=d.stage, to_status=d.status, actor_id=d.owner_id, at=d.created_at)
                    for d in deals
                ]
            )
            created += size
