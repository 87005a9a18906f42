"""The deal list at scale: GET /lists/deals/ with the filter language, sort, totals and keyset
paging, over N open deals (bench.seed), each with a custom number field.

    python -m bench.lists [--deals 1000000] [--database-url postgres://…/db] [--repeat 5] [--output FILE]

The database named by --database-url (default DATABASE_URL) must be a new, empty one (it is
migrated and seeded). Rows: the admin's default list (newest first), a filter on a related record
and an amount sorted by amount, a filter on a custom field, the 20th page by cursor, and the CSV of
a filtered list. Each row gives the median and p95 time and the queries of one request; a page
costs the same queries however deep it is (keyset paging: no OFFSET).
"""
import argparse
import html
import os
import re
import statistics
import sys
import time
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a database this benchmark seeded before")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "lists.md"))
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.seed import bench_users, seed_open_deals
    from pipeline import custom_fields

    call_command("migrate", verbosity=0)  # a fresh database: the migrations install the default pipeline
    users = bench_users()
    from pipeline.models import Deal

    if not (args.reuse and Deal.objects.count() >= args.deals):
        started = time.perf_counter()
        seed_open_deals(args.deals)
        custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats", field_type="number")
        json_object = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE pipeline_deal SET custom = {json_object}('seats', id % 50)")
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE")
        seed_seconds = time.perf_counter() - started
        print(f"seeded {args.deals:,} deals in {seed_seconds:.0f} s on {connection.vendor}", file=sys.stderr)

    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    client = Client()
    client.force_login(users["admin"])
    url = "/lists/deals/"

    def timed(path: str, *, stream: bool = False) -> tuple[list[float], int]:
        times, queries = [], 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                t0 = time.perf_counter()
                response = client.get(path)
                if stream:
                    b"".join(response.streaming_content)
                times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.status_code
            queries = len(captured.captured_queries)
        return times, queries

    def cursor_after(path: str, pages: int) -> str:
        for _ in range(pages):
            found = re.search(r'href="([^"]+)" rel="next"', client.get(path).content.decode())
            path = html.unescape(found.group(1))
        return path

    rows = {
        "default list (newest first)": timed(f"{url}?view=all"),
        "organisation's country + amount ≥ 100,000, by amount": timed(
            f"{url}?view=all&organization.country=DE&amount__gte=100000&sort=-amount"),
        "custom field seats ≥ 45, by amount": timed(f"{url}?view=all&cf.seats__gte=45&sort=-amount"),
        "20th page by cursor (by amount)": timed(cursor_after(f"{url}?view=all&sort=-amount", 19)),
        "CSV of a filtered list (amount ≥ 190,000)": timed(f"{url}?view=all&amount__gte=190000&format=csv", stream=True),
    }
    load = os.getloadavg()[0]
    lines = [
        f"# The deal list at {args.deals:,} deals ({connection.vendor})",
        "",
        f"{datetime.now(dt_timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load:.1f}, {args.repeat} requests each, "
        "as the admin (every deal visible); each request counts all matches and totals them per currency.",
        "",
        "| request | median ms | p95 ms | queries |",
        "|---|---:|---:|---:|",
    ]
    for name, (times, queries) in rows.items():
        p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
        lines.append(f"| {name} | {statistics.median(times):,.1f} | {p95:,.1f} | {queries} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
