from django.core.management.base import BaseCommand

from forecasting.demo import seed_forecast_demo


class Command(BaseCommand):
    help = "Give the demo people and teams quarterly quotas and the open demo deals forecast categories."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same categories.")

    def handle(self, *args, seed, **options):
        result = seed_forecast_demo(seed=seed)
        if not result.quotas:
            self.stdout.write("Quotas exist already; nothing changed.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Set {result.quotas} quotas and put {result.categorised} open deals into commit, best case or omitted."
        ))
