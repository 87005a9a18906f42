"""Where the deal-by-deal Monte Carlo of today's snapshot stops being affordable:
`DATABASE_URL=… python -m bench.forecast_crossover [--sizes 10000,20000,50000,100000] [--repeat 3]`.

On the database of DATABASE_URL (migrated here; use a scratch database), fills the default
pipeline with open deals in steps up to each size (20 reps in 4 teams, as `make bench` does),
keeps a fit, and times the forecast recompute (`forecast_refresh_pipeline`) with the simulation
deal by deal and on sums (`montecarlo.EXACT_MONTECARLO_MAX_DEALS` set above and below the size).
Best and median of `--repeat` runs. Not part of the test run.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "stageflow-benchmarks-only")
os.environ["DEBUG"] = "0"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,20000,50000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.seed import bench_users, seed_open_deals
    from forecasting import montecarlo, services
    from pipeline.models import Deal, Pipeline

    call_command("migrate", verbosity=0, interactive=False)
    bench_users()
    pipeline = Pipeline.objects.get(is_default=True)
    print(f"{connection.vendor}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for size in [int(s) for s in args.sizes.split(",")]:
        have = Deal.objects.filter(pipeline=pipeline, status="open").count()
        if size > have:
            seed_open_deals(size - have, seed=size)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
        services.learned_probabilities_refit(pipeline_id=pipeline.pk)
        line = [f"{size:>9,} open deals:"]
        for label, threshold in (("deal by deal", size), ("on sums", size - 1)):
            montecarlo.EXACT_MONTECARLO_MAX_DEALS = threshold
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
                times.append((time.perf_counter() - start) * 1000)
            line.append(f"{label} best {min(times):,.0f} ms, median {statistics.median(times):,.0f} ms;")
        print(" ".join(line), flush=True)


if __name__ == "__main__":
    main()
