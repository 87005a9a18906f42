from django.core.management.base import BaseCommand

from forecasting import services
from forecasting.demo import seed_forecast_demo
from pipeline.models import Pipeline


class Command(BaseCommand):
    help = (
        "Give the demo people and teams quarterly quotas and the open demo deals forecast categories, "
        "then compute every active pipeline's forecast, so the dashboard has figures to show."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same categories.")

    def handle(self, *args, seed, **options):
        result = seed_forecast_demo(seed=seed)
        if result.quotas:
            self.stdout.write(self.style.SUCCESS(
                f"Set {result.quotas} quotas and put {result.categorised} open deals into commit, best case or omitted."
            ))
        else:
            self.stdout.write("Quotas exist already; nothing changed.")
        for pipeline_id in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True):
            services.forecast_refresh_pipeline(pipeline_id=pipeline_id)
        self.stdout.write("The forecast is computed.")
