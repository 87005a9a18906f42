"""python manage.py import_rates RATES.csv — exchange rates from a file (see currencies.importing),
all or nothing; every bad line is listed."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from currencies.importing import RatesFileInvalid, rates_from_csv
from currencies.services import RateRefused, exchange_rates_import


class Command(BaseCommand):
    help = "Import exchange rates (columns currency, date, rate) into the reporting currency."

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file with the columns currency, date and rate")

    def handle(self, *args, path, **options):
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}") from None
        try:
            result = exchange_rates_import(rows=rates_from_csv(data), actor_label=f"import_rates {Path(path).name}"[:200])
        except RatesFileInvalid as invalid:
            raise CommandError("Nothing was imported.\n" + "\n".join(invalid.errors)) from None
        except RateRefused as refusal:
            raise CommandError(f"Nothing was imported. {refusal.message}") from None
        self.stdout.write(
            f"{result.created} rates added, {result.updated} changed, {result.unchanged} unchanged."
        )
