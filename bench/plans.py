"""The PostgreSQL plans of the hot queries: EXPLAIN (ANALYZE, BUFFERS) of what the real views and
services run, captured as they run.

    DATABASE_URL=postgres://…/stageflow_x python -m bench.plans [--setup 100000] [--output FILE]

With --setup, migrates the (empty) database and seeds that many open deals, one activity per
deal, and ANALYZEs. Then captures the queries of: the board as admin and as a rep, a column's
next page (htmx), a move through the HTMX endpoint, the forecast's GROUP BY sums, the history
load of a forecast, and "My activities"; and prints each query with its plan. Writes run inside
a transaction that is rolled back, so the plans do not change the data. Not part of the tests.
"""
import argparse
import os
import random
import sys
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "stageflow-benchmarks-only")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ["AXES_ENABLED"] = "0"

SKIP = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "SET ", "BEGIN", "COMMIT")


def seed_activities() -> None:
    from django.utils import timezone

    from activities.models import Activity
    from pipeline.models import Deal

    rng = random.Random(11)
    now = timezone.now()
    batch = []
    for deal_id, owner_id in Deal.objects.values_list("pk", "owner_id").iterator(chunk_size=10_000):
        due = now + timedelta(days=rng.randint(-20, 40), minutes=rng.randint(0, 1440))
        done = due if rng.random() < 0.3 and due < now else None
        batch.append(Activity(title="Call", due_at=due, owner_id=owner_id, deal_id=deal_id, done_at=done))
        if len(batch) >= 10_000:
            Activity.objects.bulk_create(batch)
            batch = []
    Activity.objects.bulk_create(batch)


def capture(fn) -> list[tuple[str, tuple]]:
    """Every statement fn runs, with its parameters."""
    from django.db import connection

    seen = []

    def wrapper(execute, sql, params, many, context):
        if not many:
            seen.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        fn()
    return [
        (sql, params)
        for sql, params in seen
        if not sql.lstrip().upper().startswith(SKIP) and "django_session" not in sql  # sessions: not ours to index
    ]


def explain(sql: str, params: tuple) -> str:
    from django.db import connection, transaction

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
    except Exception as exc:  # a write that cannot run twice: say so, go on
        return f"(not explained: {exc.__class__.__name__}: {str(exc).splitlines()[0]})"
    return plan


def scenarios(users) -> dict:
    from django.test import Client

    from forecasting.loading import load_history
    from forecasting.periods import MONTH, period_of_date
    from forecasting.sums import period_sums
    from activities.selectors import my_activities
    from pipeline.models import Deal, Pipeline

    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.order_by("position")[:2])

    def page(user, url, **headers):
        client = Client()
        client.force_login(user)

        def get():
            response = client.get(url, **headers)
            assert response.status_code == 200, response.status_code

        return get

    def move():
        from django.db import transaction

        rep = users["rep"]
        deal = Deal.objects.filter(owner=rep, stage=stages[0], status="open").first()
        client = Client()
        client.force_login(rep)
        with transaction.atomic():
            response = client.post(
                f"/pipeline/deals/{deal.pk}/move/", {"stage": stages[1].pk, "version": deal.version}, HTTP_HX_REQUEST="true"
            )
            assert response.status_code == 200, response.status_code
            transaction.set_rollback(True)

    def forecast_sums():
        from django.utils import timezone

        first = period_of_date(timezone.localdate(), MONTH)
        period_sums(deals=Deal.objects.filter(pipeline=pipeline), kind=MONTH, first_period=first, horizon=3, by=("owner_id",))

    return {
        "board (admin)": page(users["admin"], "/pipeline/"),
        "board (rep)": page(users["rep"], "/pipeline/"),
        "board column next page (rep; htmx)": page(
            users["rep"], f"/pipeline/?stage={stages[0].pk}&offset=50", HTTP_HX_REQUEST="true"
        ),
        "move (HTMX; rep)": move,
        "forecast sums (period_sums per owner and month)": forecast_sums,
        "forecast history load": lambda: load_history(pipeline_id=pipeline.pk),
        "my activities (rep)": lambda: my_activities(users["rep"]),
    }


def summarize(text: str) -> str:
    """Per statement: its start, execution time, and the plan lines that name a scan or a sort."""
    import re

    lines = []
    for block in re.split(r"\n(?=## |### )", text):
        if block.startswith("## "):
            lines.append("\n" + block.splitlines()[0])
            continue
        head, *plan = block.splitlines()
        took = next((line.strip() for line in plan if line.startswith("Execution Time")), "")
        jit = next((line.strip() for line in plan if line.strip().startswith("Timing: Generation")), "")
        lines.append(f"- {head[4:130]} | {took} {('| JIT ' + jit.split('Total')[-1]) if jit else ''}")
        lines += [
            "      " + line.strip()[:150]
            for line in plan
            if "->" in line and any(word in line for word in ("Scan", "Sort", "WindowAgg"))
        ][:6]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plans")
    parser.add_argument("--setup", type=int, default=0, help="migrate and seed this many open deals first")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--output", help="also write the plans to this file")
    parser.add_argument("--set", action="append", default=[], help="a setting for the session, e.g. jit=off")
    parser.add_argument("--summary", action="store_true", help="print only each statement's slowest plan nodes")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    from bench.seed import bench_users, seed_open_deals

    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database of your own.")
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    if args.setup:
        call_command("migrate", verbosity=0, interactive=False)
        bench_users()
        seed_open_deals(args.setup)
        seed_activities()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    users = bench_users()
    with connection.cursor() as cursor:
        for setting in args.set:
            name, value = setting.split("=", 1)
            cursor.execute(f"SELECT set_config(%s, %s, false)", [name, value])
    out = []
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    for name, fn in scenarios(users).items():
        if only and name not in only:
            continue
        fn()  # warm
        statements = capture(fn)
        out.append(f"## {name}: {len(statements)} statements\n")
        for sql, params in statements:
            plan = explain(sql, params)
            out.append(f"### {sql[:4000]}\n-- params: {params!r}\n{plan}\n")
    text = "\n".join(out)
    print(summarize(text) if args.summary else text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
