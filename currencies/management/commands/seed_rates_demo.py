"""python manage.py seed_rates_demo — exchange rates for the demo's currencies over its history."""
from django.core.management.base import BaseCommand
from django.utils import timezone

from currencies.demo import seed_rates_demo


class Command(BaseCommand):
    help = "Give the demo currencies (USD, CHF, GBP) a rate into the reporting currency for every business day."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same rates.")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when there are rates already.")

    def handle(self, *args, seed, if_empty, **options):
        written = seed_rates_demo(today=timezone.localdate(), seed=seed, if_empty=if_empty)
        self.stdout.write(f"{written} exchange rates written." if written else "Exchange rates exist already.")
