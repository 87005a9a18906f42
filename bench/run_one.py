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
# The API throttle still runs on every request; it only must not refuse the repeated moves.
os.environ.setdefault("API_RATE_LIMIT", "1000000/hour")

from bench.timing import summary, timed_alternating  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--forecast-repeat", type=int, default=3, help="repeats of the forecast rows (0: skip them)")
    parser.add_argument(
        "--fill-total", type=int, default=0,
        help="after the other rows, fill the pipeline to this many deals (PostgreSQL) and measure the forecast again",
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench import floors
    from bench.seed import bench_users, seed_open_deals
    from pipeline.models import Deal

    # No setup_test_environment(): it instruments template rendering (a copy of the context per
    # template, for tests' assertTemplateUsed), which a served request does not pay.
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
        times, floor_times = timed_alternating(lambda: client.get(url), floor_fn, args.repeat)
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
        # Form-encoded, as htmx sends it.
        response = client.post(
            f"/pipeline/deals/{deal.pk}/move/", f"stage={target.pk}&version={state['version']}",
            content_type="application/x-www-form-urlencoded", HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200, response.status_code
        state["i"] += 1
        state["version"] += 1

    move_once()
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        move_once()
    move_queries = len(ctx.captured_queries)
    # The floor moves a deal of its own in the same column, so that the two alternate without
    # changing each other's version.
    floor_deal = Deal.objects.filter(owner=users["rep"], stage=deal.stage_id, status="open").exclude(pk=deal.pk).first()
    floor_state = {"i": 0}

    def floor_move():
        target = stages[(floor_state["i"] + 1) % 2]
        floors.move(deal_id=floor_deal.pk, to_stage_id=target.pk, actor_id=users["rep"].pk)
        floor_state["i"] += 1

    move_times, floor_times = timed_alternating(move_once, floor_move, args.repeat)
    results["rows"]["move (HTMX)"] = {
        **summary(move_times),
        "queries": move_queries,
        "bytes": None,
        "floor_ms": statistics.median(floor_times),
    }
    results["rows"].update(extra_rows(args, users))
    print(json.dumps(results))
    return 0


def extra_rows(args, users) -> dict:
    """The API move and the forecast rows (and, with --fill-total, the forecast on a bigger book)."""
    from django.db import connection

    from bench.measure_api import api_move
    from bench.measure_cards import card_rows
    from bench.measure_concurrent import move_during_recompute
    from bench.measure_forecast import forecast_rows
    from pipeline.models import Deal, Pipeline

    rows = {"move (API)": api_move(rep=users["rep"], repeat=args.repeat)}
    rows.update(card_rows(admin=users["admin"], repeat=args.repeat))
    if args.forecast_repeat <= 0:
        return rows
    pipeline = Pipeline.objects.get(is_default=True)
    rows.update(forecast_rows(pipeline_id=pipeline.pk, rep=users["rep"], repeat=args.forecast_repeat))
    rows["move (HTMX) during a forecast recompute"] = move_during_recompute(
        rep=users["rep"], pipeline_id=pipeline.pk, repeat=max(3, args.forecast_repeat * 2)
    )
    if args.fill_total and connection.vendor == "postgresql":
        from bench.forecast_groupby import fill

        start = time.perf_counter()
        fill(pipeline, args.fill_total)
        fill_s = time.perf_counter() - start
        total = Deal.objects.filter(pipeline=pipeline).count()
        open_deals = Deal.objects.filter(pipeline=pipeline, status="open").count()
        label = {"deals": total, "deals_kind": "total", "open_deals": open_deals, "fill_s": round(fill_s, 1)}
        big = forecast_rows(
            pipeline_id=pipeline.pk, rep=users["rep"], repeat=max(1, args.forecast_repeat - 1), montecarlo=False,
            label=label,
        )
        rows.update({f"{name} @ {total:,} deals": row for name, row in big.items()})
    return rows


if __name__ == "__main__":
    sys.exit(main())
