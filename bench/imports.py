"""Moving in at 10,000 rows: a whole CRM's opportunities export through the import wizard.

    python -m bench.imports [--rows 10000] [--databases sqlite,postgresql] [--output FILE]

The file is shaped like a real export of another CRM: its own stage names with "Closed Won" and
"Closed Lost", owners as full names or e-mail addresses (one of them not a user yet), dates written
month/day/year, amounts with thousands separators, countries as names, lost reasons in free text,
a fifth of the rows without an expected close date and some without an amount, about 2,500
accounts of which each appears in several rows. Each database runs in a subprocess of its own (the
settings read DATABASE_URL once): SQLite in a temporary file, PostgreSQL in a throw-away database.

Timed, as a user goes through the wizard with Django's test client: the upload (parsing and
storing the file), the value-mapping page (distinct values, proposals, date order and decimal
evidence), the preview page (every row checked) and the commit: the import task the worker, or in
laptop mode the server's background thread, runs (`imports.tasks.import_run`), writing the
organisations, the deals and their stage history in one transaction. Then undoing the import.
Writes bench/results/imports.md, and `python -m bench` adds the table to bench/results/latest.md.
"""
import argparse
import csv
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone as dt_timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

HEADERS = ["Opportunity_Name", "Account_Name", "Amount", "Currency", "Deal_Stage", "Status", "Deal_Owner",
           "Created_Date", "Expected_Close_Date", "Close_Date", "Lost_Reason", "Billing_Country"]
THEIR_STAGES = ["Prospect", "Qualify", "Develop", "Proposal", "Negotiation/Review"]
OWNERS = ["Anna Schmidt", "ben@example.com", "Carla Jones", "Dieter Brandt", "eva.lang@example.com"]
COUNTRIES = ["Germany", "United States", "Österreich", "UK", "France", "Switzerland", "Netherlands"]
REASONS = ["Price", "Competitor", "Went dark", "No budget", "Timing"]
TODAY = date(2026, 11, 30)


def mdy(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def export(rows: int, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    accounts = max(1, rows // 4)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for i in range(rows):
        created = TODAY - timedelta(days=rng.randrange(1, 700))
        outcome = rng.choices(["open", "won", "lost", "lost-from-stage"], weights=[30, 30, 25, 15])[0]
        closed = min(TODAY, created + timedelta(days=rng.randrange(2, 150))) if outcome != "open" else None
        expected = "" if rng.random() < 0.2 else mdy(closed or TODAY + timedelta(days=rng.randrange(-60, 150)))
        amount = "" if rng.random() < 0.03 else f"{Decimal(rng.randrange(500, 250_000)) + Decimal(rng.choice(['0', '0.5'])):,.2f}"
        stage = {"won": "Closed Won", "lost": "Closed Lost"}.get(outcome, rng.choice(THEIR_STAGES))
        status = {"open": "Open", "won": "Won"}.get(outcome, "Lost")
        account = i % accounts
        writer.writerow([
            f"Opportunity {i}", f"Account {account} GmbH", amount, "EUR", stage, status, OWNERS[i % len(OWNERS)],
            mdy(created), expected, mdy(closed) if closed else "",
            rng.choice(REASONS) if outcome.startswith("lost") else "", COUNTRIES[account % len(COUNTRIES)],
        ])
    return out.getvalue().encode()


def child(rows: int) -> dict:
    """Runs in the subprocess, against DATABASE_URL."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    from accounts.models import Team, User
    from imports.models import ImportJob, ImportStatus
    from imports.tasks import import_run
    from imports.undo import import_undo
    from pipeline.models import Deal, LostReason, Pipeline, StageChange

    team = Team.objects.create(name="Field sales")
    admin = User.objects.create_user("admin", password="x", role="admin", is_staff=True, is_superuser=True)
    User.objects.create_user("aschmidt", first_name="Anna", last_name="Schmidt", role="rep", team=team)
    User.objects.create_user("bweber", email="ben@example.com", role="rep", team=team)
    User.objects.create_user("dbrandt", first_name="Dieter", last_name="Brandt", role="rep", team=team)
    User.objects.create_user("elang", email="eva.lang@example.com", role="rep", team=team)
    for reason in ("Price", "Competitor"):
        LostReason.objects.get_or_create(name=reason, defaults={"position": 9})
    pipeline = Pipeline.objects.get(is_default=True)
    client = Client()
    client.force_login(admin)
    data = export(rows)
    timings = {}

    def timed(name, call):
        started = time.perf_counter()
        response = call()
        timings[name] = (time.perf_counter() - started) * 1000
        return response

    client.get(reverse("imports:upload"))  # the first request loads the URLs and templates: not the import's cost
    response = timed("upload", lambda: client.post(reverse("imports:upload"), {
        "kind": "deals", "pipeline": pipeline.pk, "file": SimpleUploadedFile("opportunities.csv", data),
    }))
    job = ImportJob.objects.latest("pk")
    page = client.get(response["Location"])
    mapping = {f.name: f.value() for f in page.context["form"] if f.value()}
    client.post(reverse("imports:mapping", args=[job.pk]), mapping)
    page = timed("values page", lambda: client.get(reverse("imports:values", args=[job.pk])))
    form = page.context["form"]
    posted = {name: field.initial for name, field in form.fields.items() if field.initial}
    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert response.status_code == 302, response.content[:2000]
    page = timed("preview page", lambda: client.get(reverse("imports:preview", args=[job.pk])))
    preview = page.context["preview"]
    problems = len(preview.error_rows)
    job.refresh_from_db()
    job.status, job.skip_invalid = ImportStatus.QUEUED, True
    job.save(update_fields=["status", "skip_invalid"])
    timed("commit (the import task)", lambda: import_run(job.pk))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.message
    written = {"deals": Deal.objects.count(), "stage changes": StageChange.objects.count(),
               "organisations": job.created_organizations, "problem rows": problems}
    timed("undo", lambda: import_undo(job, actor=admin))
    assert not Deal.objects.exists()
    return {"rows": rows, "bytes": len(data), "timings": timings, "written": written,
            "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]}


def run(url: str, rows: int) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONWARNINGS": "ignore::UserWarning"}
    env.pop("REDIS_URL", None)
    proc = subprocess.run([sys.executable, "-m", "bench.imports", "--child", "--rows", str(rows)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:])
        raise SystemExit(f"import benchmark failed for {url}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_all(*, rows: int, databases: list[str]) -> list[dict]:
    from bench.__main__ import postgres_drop, postgres_url

    results = []
    workdir = tempfile.mkdtemp(prefix="stageflow-import-bench-")
    try:
        for database in databases:
            url = f"sqlite:///{Path(workdir) / 'imports.sqlite3'}" if database == "sqlite" else postgres_url()
            if url is None:
                continue
            print(f"… import, {database}, {rows:,} rows", file=sys.stderr, flush=True)
            results.append(run(url, rows))
            if database != "sqlite":
                postgres_drop()
    finally:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return results


ABOUT = (
    "A real-shaped export of another CRM's opportunities (bench/imports.py) through the import wizard with "
    "Django's test client: upload, the value-mapping page, the preview page (every row checked), the import "
    "task a worker or the server's background thread runs (one transaction: organisations, deals, their stage "
    "history), and undoing the whole import. One run each; milliseconds."
)


def table(results: list[dict]) -> str:
    steps = list(results[0]["timings"]) if results else []
    lines = ["| database | rows | " + " | ".join(steps) + " | written |", "|---|---:|" + "---:|" * len(steps) + "---|"]
    for result in results:
        written = ", ".join(f"{v:,} {k}" for k, v in result["written"].items())
        lines.append(f"| {result['database']} | {result['rows']:,} | "
                     + " | ".join(f"{result['timings'][s]:,.0f}" for s in steps) + f" | {written} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--output", default=str(RESULTS / "imports.md"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.rows)))
        return
    results = run_all(rows=args.rows, databases=args.databases.split(","))
    stamp = datetime.now(dt_timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# Moving in: {args.rows:,} rows through the import wizard\n\n{ABOUT}\n\n{table(results)}\n\n_Run {stamp}._\n"
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
