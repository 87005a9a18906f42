"""Server time of the board and of a move with many open deals (measured, never asserted).

    DATABASE_URL=sqlite:////tmp/stageflow-bench.sqlite3 DEBUG=1 python -m bench.board --deals 10000

Builds a throw-away database (migrate + bulk-created deals), then renders GET /pipeline/
through Django's test client as a signed-in rep, a manager and an admin, and reports the median
and best time and the number of queries.
"""
import argparse
import os
import statistics
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("sqlite:///") or url.endswith("db.sqlite3"):
        print("Set DATABASE_URL to a throw-away SQLite file, e.g. sqlite:////tmp/stageflow-bench.sqlite3")
        return 2
    path = url.removeprefix("sqlite:///")
    if os.path.exists(path):
        os.remove(path)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = ["*"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    users = _seed(args.deals)

    client = Client()
    for who, user in users.items():
        client.force_login(user)
        client.get("/pipeline/")  # warm-up: template compilation, first connection
        wall, cpu, queries = [], [], 0
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as captured:
                start, start_cpu = time.perf_counter(), time.process_time()
                response = client.get("/pipeline/")
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            assert response.status_code == 200, response.status_code
            queries = len(captured)
        print(
            f"board as {who:<8} {args.deals:>7,} open deals: median {_ms(wall)} wall, {_ms(cpu)} CPU "
            f"(best {min(wall) * 1000:.0f} ms), {queries} queries, {len(response.content) // 1024} KiB"
        )

    from pipeline.models import Deal, Stage

    rep = users["rep"]
    client.force_login(rep)
    wall, cpu = [], []
    deals = list(Deal.objects.filter(owner=rep, stage__position=0, status="open")[: args.runs + 1])
    target = Stage.objects.get(pipeline_id=deals[0].pipeline_id, position=1)
    for deal in deals:
        with CaptureQueriesContext(connection) as captured:
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.post(
                f"/pipeline/deals/{deal.pk}/move/", {"stage": target.pk, "version": deal.version}, HTTP_HX_REQUEST="true"
            )
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        assert response.status_code == 200, response.status_code
    wall, cpu = wall[1:], cpu[1:]  # the first move warms up
    print(
        f"move (htmx) as rep: median {_ms(wall)} wall, {_ms(cpu)} CPU, {len(captured)} queries "
        "(including BEGIN and the after-commit forecast refresh, run eagerly without a broker)"
    )
    return 0


def _ms(values) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def _seed(n: int) -> dict:
    import random
    from datetime import date, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Team, User
    from pipeline.models import Deal, Lead, Pipeline

    rnd = random.Random(42)
    team = Team.objects.create(name="North")
    reps = [User.objects.create_user(f"rep{i}", password="x", role="rep", team=team) for i in range(8)]
    manager = User.objects.create_user("manager", password="x", role="manager", team=team)
    team.manager = manager
    team.save()
    admin = User.objects.create_user("admin", password="x", role="admin", is_staff=True, is_superuser=True)
    pipeline = Pipeline.objects.get(is_default=True)
    stages = [s for s in pipeline.stages.order_by("position") if s.kind == "open"]
    leads = Lead.objects.bulk_create([Lead(name=f"Company {i}", contact_name="A. Person") for i in range(n // 4 or 1)])
    now = timezone.now()
    Deal.objects.bulk_create(
        [
            Deal(
                pipeline=pipeline, stage=rnd.choice(stages), lead=rnd.choice(leads), title=f"Deal {i}",
                amount=Decimal(rnd.randrange(1_000, 90_000)), currency=rnd.choice(["EUR", "EUR", "EUR", "USD", "GBP"]),
                expected_close=date.today() + timedelta(days=rnd.randrange(-30, 180)), owner=rnd.choice(reps),
                next_step=rnd.choice(["", "Call back", "Send offer"]), stage_entered_at=now - timedelta(hours=rnd.randrange(0, 2_000)),
            )
            for i in range(n)
        ],
        batch_size=2_000,
    )
    return {"rep": reps[0], "manager": manager, "admin": admin}


if __name__ == "__main__":
    sys.exit(main())
