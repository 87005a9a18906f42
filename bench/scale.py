"""`make bench-scale`: the board, a move, the forecast dashboard and search at 10,000, 100,000 and
1,000,000 deals on PostgreSQL, with data shaped like a CRM in use, beside hand-written floors.

    python -m bench.scale [--sizes 10000,100000,1000000] [--repeat 15]

The seed (seed_shaped) has the shape of real use rather than of a demo: about a fifth of the deals
open over the five open stages, the rest closed (won ones in Retention, most of them onboarded;
lost ones in the stage where they were lost, with a reason) over 18 months; three to six history
rows per deal; one or two activities per deal (the open deals' next step among them); an offer
with a version for every deal that reached the Offer stage; 200 reps in four teams with their
managers; leads with a main contact each. It is written with COPY, a few hundred thousand rows a
second.

Each floor is the SQL a person would write by hand for what the page shows, not the app's query
shapes: for the board a LATERAL join over the stages that reads each column's first 25 cards,
and the column totals summed from the deals (GROUP BY); for a move the row lock, the update, the
history row and the two columns' sums; for the forecast the manager's weighted pipeline by month
and the quarter's won sum; for search three ILIKE lookups with a LIMIT. The app's board reads the
open deals' totals from OpenStageTotal, which no hand-written GROUP BY can match at a million
deals: there the ratio falls below 1.

Results go into bench/results/latest.md between the "scale" markers (the rest of the file is
`make bench`'s). One database per size (BENCH_SCALE_DATABASE, dropped at the end).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone as tz
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.md"
# The figures of every size measured so far, so that sizes can be run one at a time (the million
# takes long): a run replaces the sizes it measured and keeps the others.
RESULTS_JSON = ROOT / "bench" / "results" / "scale.json"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_SCALE_DATABASE", f"stageflow_scale_bench_{os.getpid()}")
START, END = "<!-- scale:start -->", "<!-- scale:end -->"

TEAMS = ("North", "South", "East", "West")
REPS_PER_TEAM = 50
SEARCH_WORD = "Kessler"
NAMES = ("Kessler", "Brandt", "Vogel", "Hartmann", "Lindqvist", "O'Brien", "Morales", "Keller", "Fischer", "Baumann",
         "Novak", "Schmid", "Walsh", "Dubois", "Meier", "Lorenz", "Huber", "Graf", "Roth", "Winter")  # fmt: skip
KINDS = ("GmbH", "AG", "Ltd", "Inc", "KG", "SA")


# --- the parent: one child process per size, one table ----------------------------------------


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--recompute-max", type=int, default=100_000,
        help="recompute the forecast (and measure the dashboard) only up to this many deals",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(LATEST))
    args = parser.parse_args()
    if args.one:
        return child(args.one, args.repeat, recompute=args.one <= args.recompute_max)
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    results, began = [], time.perf_counter()
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            _admin(f'DROP DATABASE IF EXISTS "{DATABASE}"')
            _admin(f'CREATE DATABASE "{DATABASE}"')
            env = {**os.environ, "DATABASE_URL": f"{base}/{DATABASE}", "PYTHONWARNINGS": "ignore::UserWarning"}
            env.pop("REDIS_URL", None)
            print(f"… {size:,} deals", file=sys.stderr, flush=True)
            step, load_before = time.perf_counter(), os.getloadavg()[0]
            proc = subprocess.run(
                [sys.executable, "-m", "bench.scale", "--one", str(size), "--repeat", str(args.repeat),
                 "--recompute-max", str(args.recompute_max)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout[-2000:])
                raise SystemExit(f"scale benchmark failed at {size}")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            results[-1]["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            print(f"  {time.perf_counter() - step:.0f} s", file=sys.stderr, flush=True)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{DATABASE}"')
    for result in results:
        result["stamp"] = datetime.now(tz.utc).strftime("%Y-%m-%d %H:%M UTC")
    kept = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else []
    measured = {r["size"] for r in results}
    results = sorted([r for r in kept if r["size"] not in measured] + results, key=lambda r: r["size"])
    RESULTS_JSON.write_text(json.dumps(results, indent=1, default=str) + "\n")
    section = report(results, args)
    output = Path(args.output)
    text = output.read_text() if output.exists() else "# Stageflow benchmarks\n"
    if START in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    output.write_text(text)
    print(section)
    return 0


def _ms(value) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def report(results: list[dict], args) -> str:
    names = []
    for r in results:
        names += [name for name in r["rows"] if name not in names]
    lines = [
        START,
        "## At scale: 10,000 to 1,000,000 deals on PostgreSQL (`make bench-scale`)",
        "",
        "`python -m bench.scale` (bench/scale.py). A shared 2-core machine, busy with other work while this ran "
        "(the load average at the start and end of each size's run is below): the absolute times carry that "
        "noise, several times a quiet machine's; the app and its floor alternate request by request and so meet "
        "the same load. Data shaped like use (about a fifth of the deals open, the rest won or lost over 18 "
        "months, 3–6 history rows and 1–2 activities per deal, an offer for every deal that reached Offer, 200 "
        "reps in 4 teams). Server time in-process (Django's test client), medians of the repeats; the floor is "
        "hand-written SQL for what the page shows (see bench/scale.py), not the app's queries.",
        "",
        "| what | " + " | ".join(f"{r['size']:,} deals ({r['open']:,} open)" for r in results) + " | queries |",
        "|---|" + "---:|" * len(results) + "---:|",
    ]
    for name in names:
        cells, queries = [], set()
        for r in results:
            row = r["rows"].get(name)
            if row is None:
                cells.append("not measured")
                continue
            queries.add(row["queries"])
            cells.append(f"{_ms(row['median_ms'])} ms (p95 {_ms(row['p95_ms'])}; floor {_ms(row['floor_ms'])})")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {', '.join(map(str, sorted(queries)))} |")
    lines.append("")
    for r in results:
        recompute = (
            f"forecast recompute before the dashboard row {r['recompute_s']:.1f} s" if r.get("recompute_s") is not None
            else "no forecast recompute (above --recompute-max: the dashboard row would show an empty forecast)"
        )
        lines.append(
            f"- {r['size']:,} deals, {r.get('stamp', '')}: seeded in {r['seed_s']:.0f} s ({r['rows_written']:,} rows); "
            f"{recompute}; load average {r.get('load', ['?', '?'])[0]} → {r.get('load', ['?', '?'])[1]}; "
            f"{r['repeat']} repeats"
        )
    lines.append(END)
    return "\n".join(lines)


# --- the child: seed one size, measure ---------------------------------------------------------


def child(size: int, repeat: int, *, recompute: bool) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "stageflow-benchmarks-only")
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ["AXES_ENABLED"] = "0"
    # The after-commit forecast refresh of each move must not run during the measurements.
    os.environ["FORECAST_REFRESH_DEBOUNCE_SECONDS"] = "3600"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    call_command("migrate", verbosity=0, interactive=False)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        # The search's trigram indexes are built once after the COPY: maintaining them row by row
        # was most of the seed's time.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef ILIKE '%%USING gin%%'"
        )
        gin = cursor.fetchall()
        for name, _definition in gin:
            cursor.execute(f'DROP INDEX "{name}"')
    written = seed_shaped(size)
    with connection.cursor() as cursor:
        for _name, definition in gin:
            cursor.execute(definition)
    seed_s = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    from forecasting.services import forecast_refresh_pipeline
    from pipeline.models import Deal, Pipeline

    pipeline = Pipeline.objects.get(is_default=True)
    recompute_s = None
    if recompute:
        start = time.perf_counter()
        forecast_refresh_pipeline(pipeline_id=pipeline.pk)
        recompute_s = time.perf_counter() - start
    rows = measure(repeat, pipeline, dashboard=recompute)
    print(json.dumps({
        "size": size, "open": Deal.objects.filter(status="open").count(), "seed_s": seed_s, "repeat": repeat,
        "rows_written": written, "recompute_s": recompute_s, "rows": rows,
    }))  # fmt: skip
    return 0


def _copy(model, rows: list[dict]) -> list[int]:
    """COPY rows (attribute name → value, Python values) into the model's table; the columns not
    given get their field defaults. Returns the new ids in order (one writer: those above the old
    maximum)."""
    from django.db import connection
    from django.utils import timezone

    if not rows:
        return []
    now = timezone.now()
    table = connection.ops.quote_name(model._meta.db_table)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = list(rows[0])
    constants = []
    for f in fields:
        if f.attname not in rows[0]:
            auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            constants.append((f, f.get_db_prep_save(now if auto else f.get_default(), connection)))
    columns = [connection.ops.quote_name(model._meta.get_field(name).column) for name in given]
    columns += [connection.ops.quote_name(f.column) for f, _ in constants]
    fixed = [value for _, value in constants]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        (before,) = cursor.fetchone()
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([*row.values(), *fixed])
        cursor.execute(f"SELECT id FROM {table} WHERE id > %s ORDER BY id", [before])
        return [r[0] for r in cursor.fetchall()]


def seed_shaped(n: int, *, seed: int = 11) -> int:
    """n deals shaped like a CRM in use (the module's docstring); returns the rows written."""
    import random
    from datetime import timedelta
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Role, Team, User
    from activities.models import Activity
    from offers.models import Offer, OfferVersion
    from pipeline.models import Deal, LostReason, Organization, Person, Pipeline, StageChange

    rng = random.Random(seed)
    now = timezone.now()
    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.order_by("position"))
    open_stages = [s for s in stages if s.kind == "open"]
    won_stage = next(s for s in stages if s.kind == "won")
    reasons = list(LostReason.objects.values_list("pk", flat=True))
    written = 0
    with transaction.atomic():
        User.objects.get_or_create(
            username="bench-admin", defaults={"role": Role.ADMIN, "is_staff": True, "is_superuser": True}
        )
        reps = []
        for name in TEAMS:
            team, _ = Team.objects.get_or_create(name=name)
            manager, _ = User.objects.get_or_create(
                username=f"bench-mgr-{name.lower()}", defaults={"role": Role.MANAGER, "team": team}
            )
            team.manager = manager
            team.save(update_fields=["manager"])
            reps += User.objects.bulk_create(
                [User(username=f"bench-rep-{name.lower()}-{i}", role=Role.REP, team=team) for i in range(REPS_PER_TEAM)]
            )
        rep_ids = [u.pk for u in reps]
        batch = 50_000
        done = 0
        while done < n:
            size = min(batch, n - done)
            leads = [
                {
                    "name": f"{rng.choice(NAMES)} {rng.choice(NAMES)} {rng.choice(KINDS)} {done + i}",
                    "industry": rng.choice(("Software", "Manufacturing", "Retail", "Health", "Logistics")),
                    "country": rng.choice(("DE", "AT", "CH", "GB", "US")),
                    "created_at": now - timedelta(days=rng.randint(0, 720)),
                }
                for i in range(0, size, 2)
            ]  # fmt: skip
            lead_ids = _copy(Organization, leads)
            _copy(
                Person,
                [
                    {"name": f"{rng.choice(NAMES)} {rng.choice(NAMES)}", "organization_id": lead_id,
                     "email": f"p{lead_id}@example.test", "created_at": lead["created_at"]}
                    for lead_id, lead in zip(lead_ids, leads)
                ],
            )  # fmt: skip
            deals, paths = [], []
            for i in range(size):
                created = now - timedelta(days=rng.uniform(0, 540))
                age = (now - created).days
                roll = rng.random()
                if age < 120:
                    status = "open" if roll < 0.75 else ("won" if roll < 0.82 else "lost")
                else:
                    status = "open" if roll < 0.04 else ("won" if roll < 0.33 else "lost")
                if status == "open":
                    reach = rng.choices(range(len(open_stages)), [30, 25, 18, 15, 12])[0]
                    stage = open_stages[reach]
                elif status == "won":
                    reach, stage = len(open_stages), won_stage
                else:
                    reach = rng.choices(range(len(open_stages)), [35, 25, 18, 14, 8])[0]
                    stage = open_stages[reach]
                top = min(reach, len(open_stages) - 1)
                path = [open_stages[k] for k in range(top + 1) if k == 0 or k == top or rng.random() < 0.6]
                if status == "won":
                    path.append(won_stage)
                span = max(1.0, (now - created).total_seconds() / 86400 * (0.9 if status == "open" else 0.6))
                times = sorted(created + timedelta(days=rng.uniform(0, span)) for _ in path[1:])
                entered = times[-1] if times else created
                closed = entered if status == "won" else (entered + timedelta(days=rng.uniform(1, 20)) if status == "lost" else None)
                if closed and closed > now:
                    closed = now
                amount = Decimal(rng.randrange(500, 250_000)) if rng.random() > 0.08 else None
                deals.append({
                    "pipeline_id": pipeline.pk, "stage_id": stage.pk, "organization_id": lead_ids[i // 2],
                    "title": f"{rng.choice(('Licences', 'Rollout', 'Renewal', 'Pilot', 'Upgrade'))} {rng.choice(NAMES)} {done + i}",
                    "amount": amount, "currency": "EUR" if rng.random() < 0.85 else rng.choice(("USD", "CHF")),
                    "expected_close": (entered + timedelta(days=rng.randint(10, 150))).date(),
                    "probability": rng.choice((None, None, None, None, 30, 70)) if status == "open" else None,
                    "status": status, "owner_id": rng.choice(rep_ids),
                    "lost_reason_id": rng.choice(reasons) if status == "lost" else None,
                    "next_step": "Call back" if status == "open" else "",
                    "stage_entered_at": entered, "closed_at": closed, "created_at": created,
                    "retention_done_at": closed + timedelta(days=20) if status == "won" and (now - closed).days > 25 else None,
                })  # fmt: skip
                paths.append((path, [created, *times], status, closed))
            deal_ids = _copy(Deal, deals)
            history, activities, offers = [], [], []
            for deal_id, deal, (path, times, status, closed) in zip(deal_ids, deals, paths):
                previous = None
                for stage, at in zip(path, times):
                    history.append({
                        "deal_id": deal_id, "from_stage_id": previous.pk if previous else None, "to_stage_id": stage.pk,
                        "from_status": "open" if previous else "", "to_status": "won" if stage is won_stage else "open",
                        "actor_id": deal["owner_id"], "at": at, "lost_reason_id": None,
                    })  # fmt: skip
                    previous = stage
                if status == "lost":
                    history.append({
                        "deal_id": deal_id, "from_stage_id": previous.pk, "to_stage_id": previous.pk, "from_status": "open",
                        "to_status": "lost", "actor_id": deal["owner_id"], "at": closed, "lost_reason_id": deal["lost_reason_id"],
                    })  # fmt: skip
                activities.append({
                    "kind": "call", "title": "Discovery call", "due_at": times[0] + timedelta(days=2),
                    "owner_id": deal["owner_id"], "deal_id": deal_id, "done_at": times[0] + timedelta(days=2),
                    "created_at": times[0],
                })  # fmt: skip
                if status == "open":
                    activities.append({
                        "kind": "call", "title": "Call back", "due_at": now + timedelta(days=rng.randint(-5, 20)),
                        "owner_id": deal["owner_id"], "deal_id": deal_id, "done_at": None, "created_at": times[-1],
                    })  # fmt: skip
                if len(path) and any(s.position >= open_stages[3].position for s in path):
                    offers.append((deal_id, deal))
            _copy(StageChange, history)
            _copy(Activity, activities)
            offer_ids = _copy(Offer, [
                {"deal_id": d, "title": f"Offer for {deal['title']}", "created_by_id": deal["owner_id"],
                 "created_at": deal["stage_entered_at"]} for d, deal in offers
            ])  # fmt: skip
            _copy(OfferVersion, [
                {"offer_id": o, "number": 1, "status": "sent", "currency": deal["currency"], "created_by_id": deal["owner_id"],
                 "created_at": deal["stage_entered_at"], "sent_at": deal["stage_entered_at"]}
                for o, (_d, deal) in zip(offer_ids, offers)
            ])  # fmt: skip
            written += len(leads) * 2 + len(deals) + len(history) + len(activities) + 2 * len(offers)
            done += size
            print(f"  seeded {done:,} deals", file=sys.stderr, flush=True)
    return written


def measure(repeat: int, pipeline, *, dashboard: bool) -> dict:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from bench.timing import summary, timed_alternating
    from pipeline.models import Deal

    admin = User.objects.get(username="bench-admin")
    manager = User.objects.get(username="bench-mgr-north")
    rep = User.objects.get(username="bench-rep-north-0")
    rows = {}

    def page(name, user, url, floor_fn, **headers):
        client = Client()
        client.force_login(user)
        client.get(url, **headers)  # warm
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, **headers)
        queries = len(ctx.captured_queries)
        assert response.status_code == 200, (url, response.status_code)
        times, floor_times = timed_alternating(lambda: client.get(url, **headers), floor_fn, repeat)
        rows[name] = {**summary(times), "queries": queries, "floor_ms": statistics.median(floor_times)}

    page("board (rep)", rep, "/pipeline/", lambda: floor_board(pipeline.pk, owner_id=rep.pk))
    page("board (admin)", admin, "/pipeline/", lambda: floor_board(pipeline.pk, owner_id=None))

    stages = list(pipeline.stages.order_by("position")[:2])
    deal = Deal.objects.filter(owner=rep, stage=stages[0], status="open").first()
    floor_deal = Deal.objects.filter(owner=rep, stage=stages[0], status="open").exclude(pk=deal.pk).first()
    client = Client()
    client.force_login(rep)
    state = {"i": 0, "version": deal.version, "floor": 0}

    def move_once():
        target = stages[(state["i"] + 1) % 2]
        response = client.post(
            f"/pipeline/deals/{deal.pk}/move/", f"stage={target.pk}&version={state['version']}",
            content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true",
        )  # fmt: skip
        assert response.status_code == 200, response.status_code
        state["i"] += 1
        state["version"] += 1

    def floor_move_once():
        target = stages[(state["floor"] + 1) % 2]
        floor_move(floor_deal.pk, target.pk, rep.pk, [s.pk for s in stages])
        state["floor"] += 1

    move_once()
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        move_once()
    queries = len(ctx.captured_queries)
    times, floor_times = timed_alternating(move_once, floor_move_once, repeat)
    rows["move (HTMX)"] = {**summary(times), "queries": queries, "floor_ms": statistics.median(floor_times)}

    if dashboard:
        page("forecast dashboard (manager)", manager, "/forecast/", lambda: floor_forecast(pipeline.pk, manager))
    page(
        "search (manager)", manager, f"/search/?q={SEARCH_WORD}", lambda: floor_search(SEARCH_WORD),
        HTTP_ACCEPT="application/json",
    )  # fmt: skip
    return rows


# --- floors: what a person would write by hand ---------------------------------------------------

_SHOWN = (
    "(d.status = 'open' OR (d.status = 'won' AND d.retention_done_at IS NULL"
    " AND d.closed_at >= now() - interval '30 days'))"
)


def floor_board(pipeline_id: int, *, owner_id: int | None) -> None:
    from django.db import connection

    mine = " AND d.owner_id = %s" if owner_id else ""
    extra = [owner_id] if owner_id else []
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, name, probability, kind FROM pipeline_stage WHERE pipeline_id = %s ORDER BY position", [pipeline_id])
        cursor.fetchall()
        cursor.execute(
            "SELECT s.id, c.* FROM pipeline_stage s CROSS JOIN LATERAL ("
            " SELECT d.id, d.title, d.amount, d.currency, d.expected_close, d.stage_entered_at, d.next_step, d.status,"
            " o.name, u.username FROM pipeline_deal d JOIN pipeline_organization o ON o.id = d.organization_id"
            " JOIN accounts_user u ON u.id = d.owner_id"
            " WHERE d.pipeline_id = s.pipeline_id AND d.stage_id = s.id AND " + _SHOWN + mine +
            " ORDER BY d.stage_entered_at DESC, d.id DESC LIMIT 25) c WHERE s.pipeline_id = %s",
            [*extra, pipeline_id],
        )  # fmt: skip
        cursor.fetchall()
        cursor.execute(
            "SELECT d.stage_id, d.currency, COUNT(*), SUM(d.amount),"
            " SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability)) / 100"
            " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id"
            " WHERE d.pipeline_id = %s AND " + _SHOWN + mine + " GROUP BY d.stage_id, d.currency",
            [pipeline_id, *extra],
        )  # fmt: skip
        cursor.fetchall()


def floor_move(deal_id: int, to_stage_id: int, actor_id: int, stage_ids: list[int]) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT stage_id, stage_entered_at FROM pipeline_deal WHERE id = %s FOR UPDATE", [deal_id])
        from_stage, since = cursor.fetchone()
        cursor.execute(
            "UPDATE pipeline_deal SET stage_id = %s, stage_entered_at = now(), version = version + 1,"
            " updated_at = now() WHERE id = %s", [to_stage_id, deal_id],
        )  # fmt: skip
        cursor.execute(
            "INSERT INTO pipeline_stagechange (deal_id, from_stage_id, to_stage_id, from_status, to_status, actor_id,"
            " actor_label, at, time_in_previous) VALUES (%s, %s, %s, 'open', 'open', %s, '', now(), now() - %s)",
            [deal_id, from_stage, to_stage_id, actor_id, since],
        )  # fmt: skip
        cursor.execute(
            "SELECT stage_id, currency, COUNT(*), SUM(amount) FROM pipeline_deal"
            " WHERE stage_id = ANY(%s) AND owner_id = %s AND status = 'open' GROUP BY stage_id, currency",
            [stage_ids, actor_id],
        )  # fmt: skip
        cursor.fetchall()


def floor_forecast(pipeline_id: int, manager) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('month', d.expected_close), SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability)) / 100"
            " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id JOIN accounts_user u ON u.id = d.owner_id"
            " WHERE d.pipeline_id = %s AND d.status = 'open' AND u.team_id = %s"
            " AND d.expected_close < current_date + interval '3 months' GROUP BY 1",
            [pipeline_id, manager.team_id],
        )  # fmt: skip
        cursor.fetchall()
        cursor.execute(
            "SELECT d.owner_id, SUM(d.amount) FROM pipeline_deal d JOIN accounts_user u ON u.id = d.owner_id"
            " WHERE d.pipeline_id = %s AND d.status = 'won' AND u.team_id = %s"
            " AND d.closed_at >= date_trunc('quarter', now()) GROUP BY 1",
            [pipeline_id, manager.team_id],
        )  # fmt: skip
        cursor.fetchall()


def floor_search(word: str) -> None:
    from django.db import connection

    like = f"%{word}%"
    with connection.cursor() as cursor:
        for sql in (
            "SELECT id, title FROM pipeline_deal WHERE title ILIKE %s LIMIT 10",
            "SELECT id, name FROM pipeline_organization WHERE name ILIKE %s LIMIT 10",
            "SELECT id, name FROM pipeline_person WHERE name ILIKE %s LIMIT 10",
        ):
            cursor.execute(sql, [like])
            cursor.fetchall()


if __name__ == "__main__":
    sys.exit(main())
