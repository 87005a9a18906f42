"""`make load`: many reps on the board at once and managers on the forecast dashboard, against
gunicorn with 4 workers on PostgreSQL.

    python -m bench.load [--deals 10000] [--reps 52] [--users 40] [--managers 4] [--duration 60]
                         [--shaped] [--workers 4] [--port 8103] [--database stageflow_load_<pid>]
                         [--keep-database]

With --shaped the data is bench/scale.py's (--deals deals in all, about a fifth open, with
history, activities and offers; 200 reps in 4 teams), and the forecast is computed once before
the run so that the dashboard shows one; without it, --deals open deals only (bench/seed.py).

Creates its own PostgreSQL database, migrates it, seeds open deals owned by the reps (who sign
in with a password), starts gunicorn on 127.0.0.1 only, and runs locust headless: each simulated
rep signs in, opens the board, loads more cards of a column as htmx does, and moves their own
deals between the first two stages through the HTMX endpoint with the current version (so a
409 is an error, not a legitimate conflict). Then it stops gunicorn, drops the database and
writes throughput, p50/p99 per request kind (for the whole run, and for the steady state after
every simulated rep has signed in) and the error count to bench/results/load.md.
Exits 1 when any request failed.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PASSWORD = "load-test-only"
HOST = "127.0.0.1"  # never anything but localhost: the server runs with throwaway secrets


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def server_env(database_url: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "stageflow-load-test-only",
        "ALLOWED_HOSTS": f"{HOST},localhost",
        # Plain HTTP on localhost: cookies without the Secure flag, no redirect to HTTPS.
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    # Eager tasks and a per-process cache: the load is on the web tier and the database; a move
    # then only marks the forecast as pending (no worker, no broker).
    env.pop("REDIS_URL", None)
    return env


def seed(*, deals: int, reps: int, plan: Path, shaped: bool) -> None:
    """Run inside a process whose DATABASE_URL is the load database (see main)."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import Role, User
    from bench.seed import TEAMS, bench_users, seed_open_deals
    from pipeline.models import Deal, Pipeline

    if shaped:
        from bench.scale import seed_shaped

        seed_shaped(deals)
    else:
        bench_users(reps_per_team=max(1, round(reps / len(TEAMS))))
        seed_open_deals(deals)
    # One hash for everyone: hashing once per person would only slow the set-up down.
    User.objects.filter(role__in=[Role.REP, Role.MANAGER]).update(password=make_password(PASSWORD))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    pipeline = Pipeline.objects.get(is_default=True)
    if shaped:
        from forecasting.services import forecast_refresh_pipeline

        forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    stages = list(pipeline.stages.order_by("position").values_list("pk", flat=True)[:2])
    reps_deals: dict[str, list] = {}
    for username, deal_id, stage_id, version in (
        Deal.objects.filter(owner__role=Role.REP, stage_id__in=stages, status="open")
        .order_by("owner__username", "pk")
        .values_list("owner__username", "pk", "stage_id", "version")
    ):
        reps_deals.setdefault(username, []).append([deal_id, stage_id, version])
    # Reps with deals in the first two stages, as many as asked for.
    reps_deals = dict(sorted(reps_deals.items())[:reps])
    managers = list(User.objects.filter(role=Role.MANAGER).order_by("username").values_list("username", flat=True))
    plan.write_text(json.dumps({"password": PASSWORD, "stages": stages, "reps": reps_deals, "managers": managers}))


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer {url} within {timeout:.0f} s")
            time.sleep(0.5)


def read_stats(prefix: str) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def failures(prefix: str) -> list[dict]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def report(
    stats: list[dict], fails: list[dict], args, *, seed_s: float, took: float, load: str, steady: dict | None = None
) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Stageflow load run",
        "",
        f"{stamp}. Machine: {load}. gunicorn with {args.workers} sync workers on {HOST} (DEBUG off), PostgreSQL; "
        + (
            f"{args.deals:,} deals shaped like use (bench/scale.py: about a fifth open, with history, activities and "
            f"offers; the forecast computed once before the run)"
            if args.shaped else f"{args.deals:,} open deals owned by {args.reps} reps"
        )
        + f" (seeded in {seed_s:.0f} s); locust headless with "
        f"{args.users} simulated reps and {args.managers} managers (spawn rate {args.spawn_rate}/s) for "
        f"{args.duration} s, each waiting {args.wait_min}–{args.wait_max} s between actions. Each rep signs in, then "
        "opens the board (weight 3), loads the next cards of a column as htmx does (weight 2) and moves one of their "
        "own deals between the first two stages through the HTMX endpoint with its current version (weight 3); each "
        "manager signs in and opens the forecast dashboard. Locust and the database share "
        f"the machine's {os.cpu_count()} cores with gunicorn, and other work ran on the machine: figures are of a "
        f"loaded machine. Whole run (set-up included): {took:.0f} s.",
        "",
        "| request | count | errors | req/s | p50 ms | p99 ms | max ms | mean bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in stats:
        name = row["Name"] if row["Name"] != "Aggregated" else "**all**"
        lines.append(
            f"| {name} | {int(row['Request Count']):,} | {int(row['Failure Count']):,} | {float(row['Requests/s']):.1f} | "
            f"{row['50%']} | {row['99%']} | {float(row['Max Response Time']):.0f} | {float(row['Average Content Size']):,.0f} |"
        )
    if steady:
        lines += [
            "",
            f"After every simulated rep had signed in (the last {steady['seconds']:.0f} s; sign-ins hash passwords "
            "and crowd the start):",
            "",
            "| request | count | errors | req/s | p50 ms | p99 ms | max ms | mean bytes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in steady["rows"]:
            name = row["name"] if row["name"] != "Aggregated" else "**all**"
            lines.append(
                f"| {name} | {row['count']:,} | {row['failures']:,} | {row['rps']:.1f} | {row['p50']} | {row['p99']} | "
                f"{row['max']:.0f} | {row['bytes']:,.0f} |"
            )
    total_errors = sum(int(r["Failure Count"]) for r in stats if r["Name"] == "Aggregated")
    lines += ["", f"Errors: {total_errors}."]
    for fail in fails:
        lines.append(f"- {fail.get('Method')} {fail.get('Name')}: {fail.get('Error')} ({fail.get('Occurrences')}×)")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--deals", type=int, default=10_000, help="open deals seeded")
    parser.add_argument("--reps", type=int, default=52, help="reps owning them (in 4 teams)")
    parser.add_argument("--users", type=int, default=40, help="simulated reps at once (at most --reps)")
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--wait-min", type=float, default=0.5, help="seconds a rep waits between actions, at least")
    parser.add_argument("--wait-max", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--managers", type=int, default=4, help="simulated managers on the forecast dashboard")
    parser.add_argument("--shaped", action="store_true", help="data shaped like use (bench/scale.py)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOAD_PORT", "8103")))
    parser.add_argument("--database", default=os.environ.get("LOAD_DATABASE", f"stageflow_load_{os.getpid()}"))
    parser.add_argument("--keep-database", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--output", default=str(RESULTS / "load.md"))
    parser.add_argument("--seed-into", help=argparse.SUPPRESS)  # internal: the seeding subprocess
    args = parser.parse_args()

    if args.seed_into:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        seed(deals=args.deals, reps=args.reps, plan=Path(args.seed_into), shaped=args.shaped)
        return 0
    if args.users > args.reps:
        parser.error("--users must not exceed --reps: each simulated rep moves only their own deals")

    began = time.perf_counter()
    load = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    database_url = f"{base}/{args.database}"
    env = server_env(database_url)
    python = sys.executable
    workdir = Path(tempfile.mkdtemp(prefix="stageflow-load-"))
    plan = workdir / "plan.json"
    prefix = str(workdir / "locust")
    server = None
    _admin(f'DROP DATABASE IF EXISTS "{args.database}"')
    _admin(f'CREATE DATABASE "{args.database}"')
    try:
        print(f"… migrating {args.database}", file=sys.stderr, flush=True)
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        print(f"… seeding {args.deals:,} {'deals shaped like use' if args.shaped else 'open deals'} for {args.reps} reps", file=sys.stderr, flush=True)
        start = time.perf_counter()
        subprocess.run(
            [python, "-m", "bench.load", "--seed-into", str(plan), "--deals", str(args.deals), "--reps", str(args.reps),
             *(["--shaped"] if args.shaped else [])],
            cwd=ROOT, env=env, check=True,
        )
        seed_s = time.perf_counter() - start
        subprocess.run(
            [python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"… gunicorn, {args.workers} workers on {HOST}:{args.port}", file=sys.stderr, flush=True)
        server = subprocess.Popen(
            [
                str(Path(python).parent / "gunicorn"), "config.wsgi", "--workers", str(args.workers),
                "--bind", f"{HOST}:{args.port}", "--timeout", "60", "--log-level", "warning",
            ],
            cwd=ROOT, env=env, start_new_session=True,
        )
        wait_until_up(f"http://{HOST}:{args.port}/accounts/login/")
        print(f"… locust, {args.users} reps for {args.duration} s", file=sys.stderr, flush=True)
        locust_env = {
            **os.environ,
            "LOAD_PLAN": str(plan),
            "LOAD_WAIT_MIN": str(args.wait_min),
            "LOAD_WAIT_MAX": str(args.wait_max),
            "LOAD_STEADY": str(workdir / "steady.json"),
            "LOAD_MANAGERS": str(args.managers),
        }
        subprocess.run(
            [
                str(Path(python).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                "--users", str(args.users + args.managers), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s",
                "--host", f"http://{HOST}:{args.port}", "--csv", prefix, "--only-summary",
            ],
            cwd=ROOT, env=locust_env, check=False,  # exit 1 on failures: reported below
        )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if not args.keep_database:
            _admin(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')

    stats = read_stats(prefix)
    fails = failures(prefix)
    steady_path = workdir / "steady.json"
    steady = json.loads(steady_path.read_text()) if steady_path.exists() else None
    text = report(stats, fails, args, seed_s=seed_s, took=time.perf_counter() - began, load=load, steady=steady)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    errors = sum(int(r["Failure Count"]) for r in stats if r["Name"] == "Aggregated")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
