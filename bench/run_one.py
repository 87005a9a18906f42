"""One benchmark run on one database at one size; prints its results as JSON on the last line.

Started by `python -m bench` in a subprocess per database and size, because the database is
chosen by DATABASE_URL when settings load.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "stageflow-benchmarks-only")
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ["AXES_ENABLED"] = "0"


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "runs": len(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from bench import floors
    from bench.seed import bench_users, seed_open_deals
    from pipeline.models import Deal

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    call_command("migrate", verbosity=0, interactive=False)
    users = bench_users()
    start = time.perf_counter()
    seed_open_deals(args.size)
    seed_seconds = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    results: dict = {"vendor": connection.vendor, "size": args.size, "seed_s": round(seed_seconds, 2), "rows": {}}

    def page(name: str, user, url: str, floor_fn):
        client = Client()
        client.force_login(user)
        client.get(url)  # warm caches and template loading
        reset_queries()  # a full query log (it keeps at most 9,000) would hide this request's queries
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        # Count now: the next request's request_started signal empties the query log that
        # ctx.captured_queries reads from, which made every board row report 0 queries.
        queries = len(ctx.captured_queries)
        assert response.status_code == 200, (url, response.status_code)
        times = timed(lambda: client.get(url), args.repeat)
        floor_times = timed(floor_fn, args.repeat)
        results["rows"][name] = {
            **summary(times),
            "queries": queries,
            "bytes": len(response.content),
            "floor_ms": statistics.median(floor_times),
        }

    page("board (admin)", users["admin"], "/pipeline/", lambda: floors.board(user=None))
    page("board (manager)", users["manager"], "/pipeline/", lambda: floors.board(user=users["manager"]))
    page("board (rep)", users["rep"], "/pipeline/", lambda: floors.board(user=users["rep"]))

    # A move through the HTMX endpoint: the same deal back and forth between two open stages.
    deal = Deal.objects.filter(owner=users["rep"], stage__position=0).select_related("stage").first()
    stages = list(deal.pipeline.stages.order_by("position")[:2])
    client = Client()
    client.force_login(users["rep"])
    # Each move adds one to the version: counted here, so that the harness runs no query of its own.
    state = {"i": 0, "version": deal.version}

    def move_once():
        target = stages[(state["i"] + 1) % 2]
        response = client.post(
            f"/pipeline/deals/{deal.pk}/move/", {"stage": target.pk, "version": state["version"]}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200, response.status_code
        state["i"] += 1
        state["version"] += 1

    move_once()
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        move_once()
    move_queries = len(ctx.captured_queries)
    move_times = timed(move_once, args.repeat)
    floor_state = {"i": 0}

    def floor_move():
        target = stages[(floor_state["i"] + 1) % 2]
        floors.move(deal_id=deal.pk, to_stage_id=target.pk, actor_id=users["rep"].pk)
        floor_state["i"] += 1

    floor_times = timed(floor_move, args.repeat)
    results["rows"]["move (HTMX)"] = {
        **summary(move_times),
        "queries": move_queries,
        "bytes": None,
        "floor_ms": statistics.median(floor_times),
    }
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
