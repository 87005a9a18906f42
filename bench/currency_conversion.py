"""What the reporting currency costs: today's forecast recompute and the board's column totals,
with the conversion and without it, on one database.

    DATABASE_URL=... python bench/currency_conversion.py --deals 20000 --repeat 3

Fills the default pipeline with N open deals (bench.seed: 90 % EUR, 10 % USD) when it holds fewer,
gives USD a rate for the last 400 days, then times, alternating run by run (best of --repeat):

- `forecast_refresh_pipeline` as it runs (per currency, and again in the reporting currency),
- the same with the conversion switched off (`forecasting.conversion.needed` → False),
- `pipeline.selectors.stage_totals` (the board's one totals query with its rates) and the plain
  per-currency GROUP BY it replaced.

Not part of the test run; it writes into the database it is given.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# Django and the apps can be imported only after the path and settings above and django.setup():
# hence the imports below the code (E402).
import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from currencies.models import ExchangeRate  # noqa: E402
from forecasting import conversion, services  # noqa: E402
from pipeline import selectors  # noqa: E402
from pipeline.models import Deal, Pipeline  # noqa: E402

from bench.seed import bench_users, seed_open_deals  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    pipeline = Pipeline.objects.get(is_default=True)
    bench_users()
    have = Deal.objects.filter(pipeline=pipeline).count()
    if have < args.deals:
        seed_open_deals(args.deals - have)
    today = timezone.localdate()
    if not ExchangeRate.objects.filter(currency="USD").exists():
        ExchangeRate.objects.bulk_create(
            ExchangeRate(currency="USD", day=today - timedelta(days=d), rate=Decimal("0.92")) for d in range(400)
        )
    deals = Deal.objects.filter(pipeline=pipeline, status="open")
    real_needed = conversion.needed

    def refresh(convert: bool):
        conversion.needed = real_needed if convert else (lambda currencies: False)
        try:
            services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
        finally:
            conversion.needed = real_needed

    def plain_totals():  # the column totals' query before the conversion
        list(
            deals.order_by()
            .values_list("stage_id", "currency")
            .annotate(n=Count("pk"), total=Sum("amount"), weighted=Sum(selectors.weighted_amount_expression()))
            .order_by("stage_id", "currency")
        )

    results = {"with": [], "without": [], "totals": [], "plain": []}
    for _ in range(args.repeat):
        results["with"].append(best(lambda: refresh(True), 1))
        results["without"].append(best(lambda: refresh(False), 1))
        results["totals"].append(best(lambda: selectors.stage_totals(deals), 1))
        results["plain"].append(best(plain_totals, 1))
    load = os.getloadavg()[0]
    print(f"{connection.vendor}, {deals.count():,} open deals, load {load:.1f}, best of {args.repeat}:")
    print(f"| forecast recompute, with the reporting currency | {min(results['with']) * 1000:,.0f} ms |")
    print(f"| forecast recompute, conversion switched off | {min(results['without']) * 1000:,.0f} ms |")
    print(f"| board totals with rates (stage_totals) | {min(results['totals']) * 1000:,.1f} ms |")
    print(f"| board totals per currency only (before) | {min(results['plain']) * 1000:,.1f} ms |")


if __name__ == "__main__":
    main()
