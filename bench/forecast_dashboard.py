"""The manager's forecast dashboard (/forecast/) on a big pipeline, on PostgreSQL.

    DATABASE_URL=postgres://.../stageflow_x python bench/forecast_dashboard.py --deals 100000

Fills the database's default pipeline with N deals WITH their stage history (one INSERT … SELECT
generate_series for the deals, one for their stage changes): three in ten won, four lost, three
open, closes spread over the last two years, so that the funnel, the time per stage, the stuck
deals and the accuracy of past periods all have data. Twenty reps in four teams, a manager for the
first team. Keeps a fit (the scheduled refit's job), then times GET /forecast/ in-process (Django
test client) as the manager and as one rep: the first view (cold caches) and the best of --repeat
further views, with the number of queries of each. --profile prints where the time of one cold
view goes. Not part of the test run; it writes into the database it is given.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# A script, not a module of the app: settings come from the environment set above, and models can
# be imported only after django.setup(). Hence the imports below the code (E402).
import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from forecasting import services  # noqa: E402
from forecasting.models import ForecastFit  # noqa: E402
from pipeline import services as pipeline_services  # noqa: E402
from pipeline.models import Deal, Organization, LostReason, Pipeline  # noqa: E402

OWNERS = 20
TEAMS = 4


def people() -> tuple[User, User]:
    """Twenty reps in four teams and the first team's manager (created once)."""
    teams = [Team.objects.get_or_create(name=f"Bench team {t + 1}")[0] for t in range(TEAMS)]
    reps = [
        User.objects.get_or_create(username=f"bench-rep-{i + 1}", defaults={"team": teams[i % TEAMS], "role": "rep"})[0]
        for i in range(OWNERS)
    ]
    manager, _ = User.objects.get_or_create(
        username="bench-manager", defaults={"team": teams[0], "role": "manager"}
    )
    if teams[0].manager_id != manager.pk:
        teams[0].manager = manager
        teams[0].save(update_fields=["manager"])
    return manager, reps[0]


# Per deal g: an outcome (g % 10: 0–2 won, 3–6 lost, 7–9 open), the furthest open stage reached
# (r), days per stage (step) and when it was created, so that every stage change lies in the past.
_DEAL_SQL = """
INSERT INTO pipeline_deal (pipeline_id, stage_id, organization_id, title, amount, currency, expected_close,
    probability, status, owner_id, lost_reason_id, lost_note, next_step, stage_entered_at, closed_at, created_at,
    updated_at, external_id, version, forecast_category, rotting_snooze_reason)
SELECT %(pipeline)s,
       CASE WHEN x.outcome = 'won' THEN %(won)s ELSE (%(stages)s::bigint[])[1 + x.r] END,
       %(organization)s, 'Bench ' || x.g, x.amount, CASE WHEN x.g %% 5 = 0 THEN 'USD' ELSE 'EUR' END,
       CASE WHEN x.outcome = 'open' THEN CURRENT_DATE + ((x.g * 31) %% 200 - 20) ELSE x.closed::date END,
       CASE WHEN x.g %% 8 = 3 THEN (x.g * 13) %% 101 END,
       x.outcome, (%(owners)s::bigint[])[1 + (x.g / 7) %% %(n_owners)s],
       CASE WHEN x.outcome = 'lost' THEN %(reason)s END, '', 'Call back',
       CASE WHEN x.outcome = 'open' THEN x.created + x.r * x.step ELSE x.closed END,
       CASE WHEN x.outcome = 'open' THEN NULL ELSE x.closed END,
       x.created, now(), 'BENCH-' || x.g, 1,
       (ARRAY['pipeline', 'best_case', 'commit', 'omitted'])[1 + (x.g / 3) %% 4], ''
FROM (
    SELECT y.*, y.created + (y.r + 1) * y.step AS closed
    FROM (
        SELECT g, o.outcome, o.r, o.step, (1000 + (g::bigint * 7919) %% 90000)::numeric(14, 2) AS amount,
               CASE WHEN o.outcome = 'open'
                    THEN now() - (o.r + 1) * o.step - ((g %% 30) || ' days')::interval
                    ELSE now() - (o.r + 1) * o.step - (((g * 37) %% 700) || ' days')::interval - interval '1 hour'
               END AS created
        FROM generate_series(%(first)s, %(last)s) AS g,
        LATERAL (SELECT CASE WHEN g %% 10 < 3 THEN 'won' WHEN g %% 10 < 7 THEN 'lost' ELSE 'open' END AS outcome,
                        CASE WHEN g %% 10 < 3 THEN %(n_stages)s - 1 ELSE (g / 10) %% %(n_stages)s END AS r,
                        ((5 + (g * 13) %% 15) || ' days')::interval AS step) o
    ) y
) x
"""

# One row per open stage reached (0..r), then the close (won: into the won stage; lost: in stage r).
_HISTORY_SQL = """
INSERT INTO pipeline_stagechange (deal_id, from_stage_id, to_stage_id, from_status, to_status, actor_label, at,
    time_in_previous, lost_reason_id)
SELECT d.id,
       CASE WHEN s.i = 0 THEN NULL WHEN s.i <= x.r THEN (%(stages)s::bigint[])[s.i]
            ELSE (%(stages)s::bigint[])[1 + x.r] END,
       CASE WHEN s.i <= x.r THEN (%(stages)s::bigint[])[1 + s.i]
            WHEN d.status = 'won' THEN %(won)s ELSE (%(stages)s::bigint[])[1 + x.r] END,
       CASE WHEN s.i = 0 THEN '' ELSE 'open' END,
       CASE WHEN s.i <= x.r THEN 'open' ELSE d.status END,
       'bench', d.created_at + s.i * x.step,
       CASE WHEN s.i = 0 THEN NULL ELSE x.step END,
       CASE WHEN s.i > x.r AND d.status = 'lost' THEN %(reason)s END
FROM pipeline_deal d,
LATERAL (SELECT substr(d.title, 7)::bigint AS g) gg,
LATERAL (SELECT CASE WHEN gg.g %% 10 < 3 THEN %(n_stages)s - 1 ELSE (gg.g / 10) %% %(n_stages)s END AS r,
                ((5 + (gg.g * 13) %% 15) || ' days')::interval AS step) x,
LATERAL generate_series(0, x.r + CASE WHEN d.status = 'open' THEN 0 ELSE 1 END) AS s(i)
WHERE d.pipeline_id = %(pipeline)s AND d.title LIKE 'Bench %%'
  AND substr(d.title, 7)::bigint BETWEEN %(first)s AND %(last)s
"""


def fill(pipeline: Pipeline, n: int) -> None:
    have = Deal.objects.filter(pipeline=pipeline).count()
    if have >= n:
        return
    manager, _ = people()
    owners = list(User.objects.filter(username__startswith="bench-rep-").order_by("pk").values_list("pk", flat=True))
    organization = Organization.objects.create(name="Bench customer")
    stages = list(pipeline.stages.filter(kind="open").order_by("position", "pk").values_list("pk", flat=True))
    won = pipeline.stages.filter(kind="won").values_list("pk", flat=True).first()
    reason = LostReason.objects.order_by("position").values_list("pk", flat=True).first()
    params = {
        "pipeline": pipeline.pk,
        "won": won,
        "stages": stages,
        "n_stages": len(stages),
        "organization": organization.pk,
        "owners": owners,
        "n_owners": len(owners),
        "reason": reason,
        "first": have + 1,
        "last": n,
    }
    with connection.cursor() as cur:
        cur.execute(_DEAL_SQL, params)
        cur.execute(_HISTORY_SQL, params)
        cur.execute("ANALYZE pipeline_deal")
        cur.execute("ANALYZE pipeline_stagechange")


def view(client: Client, url: str) -> tuple[float, int, int]:
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return elapsed, len(queries), len(response.content)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile a view after the first one")
    parser.add_argument("--period", default="quarter", choices=("quarter", "month"))
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database of your own.")
    pipeline = Pipeline.objects.get(is_default=True)
    start = time.perf_counter()
    fill(pipeline, args.deals)
    manager, rep = people()
    if not ForecastFit.objects.filter(pipeline=pipeline).exists():
        services.learned_probabilities_refit(pipeline_id=pipeline.pk)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    deals = Deal.objects.filter(pipeline=pipeline)
    print(
        f"{deals.count():,} deals ({deals.filter(status='open').count():,} open), "
        f"ready in {time.perf_counter() - start:.1f} s; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    url = f"/forecast/?period={args.period}"
    for who, user in (("manager", manager), ("rep", rep)):
        client = Client()
        client.force_login(user)
        cache.clear()
        cold, n_cold, size = view(client, url)
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            view(client, url)
            profile.disable()
            print(f"A further view as {who}:")
            stats = pstats.Stats(profile).sort_stats("cumulative")
            stats.print_stats(r"forecasting|pipeline|django/db/models/query\.py", 25)
        warm = []
        for _ in range(args.repeat):
            elapsed, n_warm, _ = view(client, url)
            warm.append(elapsed)
        print(
            f"GET {url} as {who}: first view {cold * 1000:.0f} ms ({n_cold} queries), "
            f"then best of {args.repeat} {min(warm) * 1000:.0f} ms ({n_warm} queries); {size:,} bytes"
        )
    # The first view after a change (no worker: the view brings the snapshots up to date itself).
    client = Client()
    client.force_login(manager)
    view(client, url)
    stages = list(pipeline.stages.order_by("position"))
    opened = [s for s in stages if s.kind == "open"]
    deal = deals.filter(status="open", stage=opened[0]).select_related("stage", "organization", "pipeline").first()
    for label, target in (("a drag between open stages", opened[1]), ("a win", stages[-1])):
        pipeline_services.deal_move(deal=deal.pk, to_stage=target, actor=manager)
        elapsed, n, _ = view(client, url)
        print(f"GET {url} as manager, first view after {label}: {elapsed * 1000:.0f} ms ({n} queries)")


if __name__ == "__main__":
    main()
