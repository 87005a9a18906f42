"""`make bench`: the board and moves at 1,000, 10,000 and 100,000 open deals, on SQLite and
(when reachable) PostgreSQL. Prints one table and writes it to bench/results/latest.md.

    python -m bench [--sizes 1000,10000] [--databases sqlite,postgresql] [--repeat 20]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
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


def run(database_url: str, size: int, repeat: int) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("REDIS_URL", None)  # eager tasks and a local cache: measure the request, not the broker
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run_one", "--size", str(size), "--repeat", str(repeat)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
        raise SystemExit(f"benchmark failed for {database_url} at {size}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    lines = [
        "| database | open deals | what | median ms | p95 ms | floor ms | ratio to floor | queries | response bytes |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for name, row in result["rows"].items():
            ratio = row["median_ms"] / row["floor_ms"] if row.get("floor_ms") else None
            lines.append(
                f"| {result['vendor']} | {result['size']:,} | {name} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | "
                f"{row['floor_ms']:.2f} | {ratio:.1f}× | {row['queries']} | "
                f"{row['bytes'] if row.get('bytes') is not None else '–'} |"
                if ratio is not None
                else f"| {result['vendor']} | {result['size']:,} | {name} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | – | – | {row['queries']} | – |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]

    results = []
    workdir = tempfile.mkdtemp(prefix="stageflow-bench-")
    for database in databases:
        for size in sizes:
            if database == "sqlite":
                path = Path(workdir) / f"bench-{size}.sqlite3"
                url = f"sqlite:///{path}"
            else:
                url = postgres_url()
                if url is None:
                    break
            print(f"… {database}, {size:,} open deals", file=sys.stderr, flush=True)
            results.append(run(url, size, args.repeat))

    shutil.rmtree(workdir, ignore_errors=True)
    postgres_drop()
    report = table(results)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(
        f"# Stageflow benchmarks\n\n{stamp}, {os.cpu_count()} cores. Server time measured in-process "
        "(Django test client: middleware, views, templates, database). The floor is hand-written SQL that "
        "returns the same numbers (bench/floors.py), timed in the same run.\n\n" + report + "\n"
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
