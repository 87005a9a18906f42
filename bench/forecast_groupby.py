"""A forecast recompute at scale against one hand-written GROUP BY, on PostgreSQL.

    DATABASE_URL=postgres://.../stageflow_x python bench/forecast_groupby.py --deals 1000000

Fills the database's default pipeline with N open and won deals in one INSERT … SELECT
generate_series (when it holds fewer), keeps a fit for it (from a synthetic history of the same
stages, so that the close-date slips and the correlation are realistic), then times, best of
--repeat runs:

- the hand-written GROUP BY (`HAND_WRITTEN`: the weighted sum per owner, currency and month),
- `forecast_refresh_pipeline`, the full recompute of today's snapshot (every level, both period
  kinds, all methods; written or found unchanged),
- one deal moved through `pipeline.services.deal_move`, then the recompute (which writes a run),
- `period_sums`, the database sums of the past-day path, for comparison,

and prints each with its ratio to the hand-written query. Not part of the test run; it writes
into the database it is given.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# Django and the apps can be imported only after the path and settings above and django.setup():
# hence the imports below the code (E402).
import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team, User  # noqa: E402
from forecasting import periods, services, sums  # noqa: E402
from forecasting.periods import MONTH, period_of_date  # noqa: E402
from pipeline import services as pipeline_services  # noqa: E402
from pipeline.models import Deal, Organization, Pipeline  # noqa: E402

HAND_WRITTEN = """
SELECT d.owner_id, d.currency, date_trunc('month', GREATEST(d.expected_close, %(start)s::date)) AS period,
       SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0) AS weighted
FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
WHERE d.pipeline_id = %(pipeline)s AND d.status = 'open' AND d.expected_close IS NOT NULL AND d.expected_close < %(end)s
GROUP BY 1, 2, 3
"""
# The same hand-written sum over the rows the recompute reads: every open deal of the pipeline (the
# recompute also needs those closing after the months shown, for the cache summary and for deals
# that may be won early).
HAND_WRITTEN_ALL_OPEN = """
SELECT d.owner_id, d.currency, date_trunc('month', GREATEST(d.expected_close, %(start)s::date)) AS period,
       SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0) AS weighted
FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id
WHERE d.pipeline_id = %(pipeline)s AND d.status = 'open'
GROUP BY 1, 2, 3
"""


BENCH_OWNERS = 20
BENCH_TEAMS = 4


def _bench_owners() -> list[int]:
    """Twenty reps in four teams (created once), so that the snapshot has team and owner levels."""
    teams = [Team.objects.get_or_create(name=f"Bench team {t + 1}")[0] for t in range(BENCH_TEAMS)]
    owners = []
    for i in range(BENCH_OWNERS):
        user, _ = User.objects.get_or_create(username=f"bench-rep-{i + 1}", defaults={"team": teams[i % BENCH_TEAMS]})
        owners.append(user.pk)
    return owners


def fill(pipeline: Pipeline, n: int) -> None:
    """Top the pipeline up to `n` deals in one INSERT … SELECT generate_series: one in ten won
    (within the last 60 days), the rest open over the open stages, close dates from 20 days
    overdue to 180 days ahead, one in five in USD, one in eight with its own probability, and
    all four forecast categories."""
    have = Deal.objects.filter(pipeline=pipeline).count()
    if have >= n:
        return
    owners = _bench_owners()
    organization = Organization.objects.create(name="Bench customer")
    stages = list(pipeline.stages.filter(kind="open").order_by("position").values_list("pk", flat=True))
    won = pipeline.stages.filter(kind="won").values_list("pk", flat=True).first()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO pipeline_deal (pipeline_id, stage_id, organization_id, title, amount, currency, expected_close,
                probability, status, owner_id, lost_note, next_step, stage_entered_at, closed_at, created_at,
                updated_at, external_id, version, forecast_category, rotting_snooze_reason)
            SELECT %(pipeline)s,
                   CASE WHEN g %% 10 = 0 THEN %(won)s ELSE (%(stages)s::bigint[])[1 + g %% %(n_stages)s] END,
                   %(organization)s, 'Bench ' || g, (1000 + (g::bigint * 7919) %% 90000)::numeric(14, 2),
                   CASE WHEN g %% 5 = 0 THEN 'USD' ELSE 'EUR' END,
                   CURRENT_DATE + ((g * 31) %% 200 - 20),
                   CASE WHEN g %% 8 = 3 THEN (g * 13) %% 101 END,
                   CASE WHEN g %% 10 = 0 THEN 'won' ELSE 'open' END,
                   (%(owners)s::bigint[])[1 + (g / 7) %% %(n_owners)s], '', 'Call back', now(),
                   CASE WHEN g %% 10 = 0 THEN now() - ((g %% 60) || ' days')::interval END,
                   now(), now(), '', 1,
                   (ARRAY['pipeline', 'best_case', 'commit', 'omitted'])[1 + (g / 3) %% 4], ''
            FROM generate_series(%(first)s, %(last)s) AS g
            """,
            {
                "pipeline": pipeline.pk,
                "won": won,
                "stages": stages,
                "n_stages": len(stages),
                "organization": organization.pk,
                "owners": owners,
                "n_owners": len(owners),
                "first": have + 1,
                "last": n,
            },
        )
        cur.execute("ANALYZE pipeline_deal")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def keep_fit(pipeline: Pipeline) -> None:
    """A stored fit for today (the scheduled refit's job), from a synthetic history."""
    import numpy as np

    from forecasting import methods, synthetic
    from forecasting.models import ForecastFit

    today = timezone.localdate()
    if ForecastFit.objects.filter(pipeline=pipeline, fitted_on=today).exists():
        return
    synth = synthetic.generate(seed=7, months=48, deals_per_month=200)
    model = methods.fit_learned(synth.history, np.datetime64(today.isoformat()) + np.timedelta64(1, "D"))
    stage_ids = list(pipeline.stages.order_by("position", "pk").values_list("pk", flat=True))
    parameters = methods.model_parameters(model, stage_ids)
    ForecastFit.objects.create(pipeline=pipeline, fitted_on=today, parameters=parameters)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Point DATABASE_URL at a PostgreSQL database of your own.")
    pipeline = Pipeline.objects.get(is_default=True)
    start = time.perf_counter()
    fill(pipeline, args.deals)
    keep_fit(pipeline)
    open_deals = Deal.objects.filter(pipeline=pipeline, status="open").count()
    print(
        f"{Deal.objects.filter(pipeline=pipeline).count():,} deals, {open_deals:,} open "
        f"(ready in {time.perf_counter() - start:.1f} s); load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    today = timezone.localdate()
    first = period_of_date(today, MONTH)
    params = {"pipeline": pipeline.pk, "start": today.replace(day=1), "end": periods.period_start(first + 3, MONTH)}

    def hand():
        with connection.cursor() as cur:
            cur.execute(HAND_WRITTEN, params)
            cur.fetchall()

    def hand_all_open():
        with connection.cursor() as cur:
            cur.execute(HAND_WRITTEN_ALL_OPEN, params)
            cur.fetchall()

    def orm():
        sums.period_sums(
            deals=Deal.objects.filter(pipeline=pipeline), kind=MONTH, first_period=first, horizon=3, by=("owner_id",)
        )

    def recompute():
        return services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)

    rep = User.objects.filter(username__startswith="bench-rep").order_by("pk").first() or User.objects.first()
    stages = list(pipeline.stages.filter(kind="open").order_by("position", "pk"))
    moved = {"count": 0}

    def move_and_recompute():
        # Each time another deal, to the next open stage (a move the default transitions allow).
        deal = (
            Deal.objects.filter(pipeline=pipeline, status="open", stage__in=stages[:-1])
            .order_by("pk")
            .values_list("pk", "stage_id")[moved["count"]]
        )
        moved["count"] += 1
        target = stages[[s.pk for s in stages].index(deal[1]) + 1]
        pipeline_services.deal_move(deal=deal[0], to_stage=target, actor=rep)
        result = recompute()
        assert result["written"] > 0, "a move must change the figures"

    recompute()  # warm up (and bring the snapshot up to date)
    t_hand = best_of(hand, args.repeat)
    t_full = best_of(recompute, args.repeat)
    t_move = best_of(move_and_recompute, args.repeat)
    t_hand = min(t_hand, best_of(hand, args.repeat))  # the machine is shared: the best seen
    t_orm = best_of(orm, args.repeat)
    t_all = best_of(hand_all_open, args.repeat)
    result = recompute()
    print(f"hand-written GROUP BY (weighted per owner, currency, month): {t_hand * 1000:.0f} ms")
    print(
        f"full recompute of today's snapshot ({result['rows']:,} rows, stored fit): {t_full * 1000:.0f} ms "
        f"= {t_full / t_hand:.2f}× the hand-written query"
    )
    print(
        f"one deal moved (deal_move) + recompute (a new run written): {t_move * 1000:.0f} ms "
        f"= {t_move / t_hand:.2f}× the hand-written query"
    )
    print(
        f"the same hand-written GROUP BY over every open deal (the rows the recompute reads): {t_all * 1000:.0f} ms; "
        f"full recompute {t_full / t_all:.2f}×, after a move {t_move / t_all:.2f}×"
    )
    print(
        f"period_sums (the past-day path's database sums): {t_orm * 1000:.0f} ms = {t_orm / t_hand:.2f}× "
        "the hand-written query"
    )


if __name__ == "__main__":
    main()
