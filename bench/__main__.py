"""`make bench`: the board, moves through HTMX and the API, the forecast recompute and a Monte
Carlo run at 1,000, 10,000 and 100,000 open deals, on SQLite and (when reachable) PostgreSQL,
where the forecast is timed again at 1,000,000 deals. Prints one table and writes it to
bench/results/latest.md.

    python -m bench [--sizes 1000,10000] [--databases sqlite,postgresql] [--repeat 10]
                    [--forecast-repeat 2] [--fill-total 1000000] [--search-people 100000]
                    [--mail-messages 10000]

Then "Find anything" at --search-people people on the same databases (bench/search.py), in a
table of its own below the first, and the sync of a mailbox of --mail-messages messages from
Dovecot (bench/mail_sync.py), when Dovecot can run here.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# One database per run, so that two checkouts benchmarking at once do not share it.
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", f"stageflow_bench_{os.getpid()}")


def postgres_url() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    except Exception as exc:  # no server: the table says so
        print(f"PostgreSQL not reachable ({exc.__class__.__name__}); benchmarking SQLite only", file=sys.stderr)
        return None
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{PG_DATABASE}"


def postgres_drop() -> None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')
    except Exception:
        pass


def run(database_url: str, size: int, args, *, fill_total: int = 0) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)  # eager tasks and a local cache: measure the request, not the broker
    command = [
        sys.executable, "-m", "bench.run_one", "--size", str(size), "--repeat", str(args.repeat),
        "--forecast-repeat", str(args.forecast_repeat), "--fill-total", str(fill_total),
    ]
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")  # whitenoise: no collected static files here
    # The child's stderr goes straight through: progress, and the traceback when it fails.
    proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:])
        raise SystemExit(f"benchmark failed for {database_url} at {size}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mail_sync_rows(messages: int) -> str:
    """The mail sync benchmark (its own process: it needs Dovecot and a database of its own), as a
    section of the report; a note instead when Dovecot cannot run here."""
    if messages <= 0:
        return ""
    from tests.mail.servers import dovecot_missing

    reason = dovecot_missing()
    if reason:
        return f"\n## Mail sync\n\nNot measured: {reason}.\n"
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "mail-sync.md"
        proc = subprocess.run([sys.executable, "-m", "bench.mail_sync", "--messages", str(messages), "--output", str(output)],
                              cwd=ROOT, stdout=subprocess.DEVNULL)
        if proc.returncode != 0 or not output.exists():
            return "\n## Mail sync\n\nThe mail sync benchmark failed (run `python -m bench.mail_sync` for the error).\n"
        text = output.read_text()
    return "\n## Mail sync\n" + text.split("\n", 1)[1]


def _ms(value) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def table(results: list[dict]) -> str:
    lines = [
        "| database | deals | what | median ms | p95 ms | floor ms | ratio to floor | queries | response bytes |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for name, row in result["rows"].items():
            if row.get("deals_kind") == "total":
                deals = f"{row['deals']:,} total ({row['open_deals']:,} open)"
                name = name.split(" @ ")[0]
            else:
                deals = f"{result['size']:,} open"
            floor = row.get("floor_ms")
            ratio = f"{row['median_ms'] / floor:.1f}×" if floor else "–"
            size = row.get("bytes")
            lines.append(
                f"| {result['vendor']} | {deals} | {name} | {_ms(row['median_ms'])} | {_ms(row['p95_ms'])} | "
                f"{_ms(floor) if floor else '–'} | {ratio} | {row['queries'] if row.get('queries') is not None else '–'} | "
                f"{f'{size:,}' if size is not None else '–'} |"
            )
    return "\n".join(lines)


def notes(results: list[dict]) -> str:
    out = []
    for result in results:
        seeded = f"- {result['vendor']}, {result['size']:,} open deals: seeded in {result['seed_s']:.1f} s"
        for row in result["rows"].values():
            if row.get("fill_s") is not None:
                seeded += f"; filled to {row['deals']:,} deals in {row['fill_s']:.1f} s"
                break
        out.append(seeded)
        out += [f"  - {name}: {row['note']}" for name, row in result["rows"].items() if row.get("note")]
    return "\n".join(out)


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sizes", default="1000,10000,100000", help="open deals seeded, comma-separated")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=10, help="requests per board and move row")
    parser.add_argument("--forecast-repeat", type=int, default=2, help="runs per forecast row (0: skip them)")
    parser.add_argument(
        "--fill-total", type=int, default=1_000_000,
        help="on PostgreSQL, after the largest size, fill to this many deals and time the forecast again (0: skip)",
    )
    parser.add_argument(
        "--search-people", type=int, default=100_000, help="people seeded for the search rows (0: skip them)",
    )
    parser.add_argument(
        "--mail-messages", type=int, default=10_000,
        help="messages in the mailbox of the mail sync rows (bench/mail_sync.py; 0: skip them)",
    )
    parser.add_argument(
        "--import-rows", type=int, default=10_000,
        help="rows of the CRM export taken through the import wizard (bench/imports.py; 0: skip them)",
    )
    parser.add_argument("--output", default=str(RESULTS / "latest.md"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]

    began = time.perf_counter()
    load_before = machine()
    results = []
    workdir = tempfile.mkdtemp(prefix="stageflow-bench-")
    try:
        for database in databases:
            for size in sizes:
                if database == "sqlite":
                    path = Path(workdir) / f"bench-{size}.sqlite3"
                    url = f"sqlite:///{path}"
                else:
                    url = postgres_url()
                    if url is None:
                        break
                fill = args.fill_total if database == "postgresql" and size == max(sizes) else 0
                print(f"… {database}, {size:,} open deals{f', then {fill:,} deals' if fill else ''}", file=sys.stderr, flush=True)
                step = time.perf_counter()
                results.append(run(url, size, args, fill_total=fill))
                print(f"  {time.perf_counter() - step:.0f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        postgres_drop()
    searched = []
    if args.search_people > 0:
        from bench import search

        searched = search.run_all(size=args.search_people, databases=databases, repeat=max(args.repeat, 10))
    mailed = mail_sync_rows(args.mail_messages)
    imported = ""
    if args.import_rows > 0:
        from bench import imports

        moved_in = imports.run_all(rows=args.import_rows, databases=databases)
        imported = f"\n## Moving in\n\n{imports.ABOUT}\n\n{imports.table(moved_in)}\n"
    took = time.perf_counter() - began
    report = table(results)
    found = ""
    if searched:
        found = f"\n## Find anything\n\n{search.ABOUT}\n\n{search.table(searched)}\n\n{search.notes(searched)}\n"
    found += mailed + imported
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        f"# Stageflow benchmarks\n\n{stamp}. Machine: {load_before} at the start, {machine()} at the end. "
        f"The whole run took {took / 60:.1f} min (`python -m bench --sizes {args.sizes} --databases {args.databases} "
        f"--repeat {args.repeat} --forecast-repeat {args.forecast_repeat} --fill-total {args.fill_total} "
        f"--search-people {args.search_people}`).\n\n"
        "Server time is measured in-process (Django test client: middleware, views, templates, database; "
        "the forecast rows call the services directly). \"deals\" is the number of open deals seeded, or, where it "
        "says so, all deals of the pipeline. The floor is hand-written SQL that returns the same numbers "
        "(bench/floors.py for the board and the moves, bench/floors_forecast.py for the forecast), timed in the "
        "same run: the board and move rows alternate one request with one floor run, so that both meet the same "
        "machine. The HTMX move's floor includes the two column totals its answer shows; the API move answers "
        "with the deal alone, and so does its floor. Moves are timed warm: the same rep each time. The two card rows "
        "(bench/measure_cards.py) compare the ways of reading what other apps show on cards: their floor is "
        "the other way, so a ratio below 1 is time the way chosen saves (a single card's annotations cost time and save "
        "the move a query). The forecast recompute also simulates (learned probabilities and Monte Carlo per pipeline, "
        "team and owner), which no SQL floor does, so its ratio shows the price of that maths, not only of the "
        "database. Monte Carlo: load the history, take the book as of today, simulate 1,000 futures of 3 months; "
        "its floor loads the open deals' columns the simulation reads. The move during a forecast recompute "
        "(bench/measure_concurrent.py) starts 30 ms after a recompute in a thread of the same process, as laptop "
        "mode runs it; its floor is the same move with nothing beside it.\n\n"
        + report + "\n\n" + notes(results) + "\n"
        + found
    )
    print(report + found)
    print(f"\n{notes(results)}\nwhole run: {took / 60:.1f} min; written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
