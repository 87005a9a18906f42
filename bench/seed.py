"""Fast, deterministic bulk data for benchmarks: N open deals spread over the default pipeline.

Not the demo data (see seed_demo): this writes the minimum a board needs with plain
executemany INSERTs (bulk_create's per-field work was most of the time), so that 100,000
deals are ready in seconds on SQLite and PostgreSQL alike.
"""
import random
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from pipeline.models import Deal, DealStatus, Organization, Pipeline, StageChange

BATCH = 20_000
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


def _insert(model, rows: list[dict], *, now) -> list[int]:
    """Insert rows (attribute name → value) in one COPY (PostgreSQL) or executemany (SQLite) and
    return their ids in order.

    The model's other columns get their field defaults (auto_now fields `now`), so that a column
    added later needs no change here. Much faster than bulk_create, whose per-field work is what
    made seeding 100,000 deals slow; the database's own work is the same."""
    table = model._meta.db_table
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = set(rows[0])
    constants = {}
    for field in fields:
        if field.attname not in given:
            auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            constants[field.attname] = field.get_db_prep_save(now if auto else field.get_default(), connection)
    varying = [f for f in fields if f.attname in given]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")
        (before,) = cursor.fetchone()
        params = []
        for row in rows:
            prepared = {f.attname: f.get_db_prep_save(row[f.attname], connection) for f in varying}
            params.append([prepared[f.attname] if f.attname in prepared else constants[f.attname] for f in fields])
        if connection.vendor == "postgresql":  # COPY: several times faster than row-by-row INSERTs
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {connection.ops.quote_name(table)} ({columns}) VALUES ({placeholders})", params)
        # One writer in a transaction: the new ids are those above the old maximum, in insert order.
        cursor.execute(f"SELECT id FROM {connection.ops.quote_name(table)} WHERE id > %s ORDER BY id", [before])
        return [r[0] for r in cursor.fetchall()]


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
            organization_ids = _insert(
                Organization,
                [{"name": f"Company {created + i:06d}", "industry": "Software", "country": "DE"} for i in range(size)],
                now=now,
            )
            deals = []
            for i, organization_id in enumerate(organization_ids):
                stage = rng.choices(stages, weights)[0]
                entered = now - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
                deals.append(
                    {
                        "pipeline_id": pipeline.pk,
                        "stage_id": stage.pk,
                        "organization_id": organization_id,
                        "title": f"Deal {created + i:06d}",
                        "amount": Decimal(rng.randrange(1_000, 200_000)) if rng.random() > 0.05 else None,
                        "currency": "EUR" if rng.random() < 0.9 else "USD",
                        "expected_close": (now + timedelta(days=rng.randint(-20, 200))).date(),
                        "status": DealStatus.OPEN,
                        "owner_id": rng.choice(owners),
                        "stage_entered_at": entered,
                        "created_at": entered - timedelta(days=rng.randint(0, 60)),
                        "next_step": "Call back",
                    }
                )
            deal_ids = _insert(Deal, deals, now=now)
            _insert(
                StageChange,
                [
                    {
                        "deal_id": deal_id,
                        "from_stage_id": None,
                        "to_stage_id": d["stage_id"],
                        "to_status": d["status"],
                        "actor_id": d["owner_id"],
                        "at": d["created_at"],
                    }
                    for deal_id, d in zip(deal_ids, deals)
                ],
                now=now,
            )
            created += size
