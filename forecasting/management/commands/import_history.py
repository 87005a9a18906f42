"""python manage.py import_history DEALS.csv EVENTS.csv"""

from django.core.management.base import BaseCommand, CommandError

from forecasting.importing import ImportFailed, import_history
from pipeline.models import Pipeline


class Command(BaseCommand):
    help = (
        "Import deals with their stage, amount and close-date history from another CRM. Every row that does "
        "not make sense is reported with its line number; then nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "deals",
            help="DEALS.csv: external_id,title,lead,owner,amount,currency,created_at,"
            "expected_close,status,closed_at,lost_reason",
        )
        parser.add_argument("events", help="EVENTS.csv: external_id,at,field,old,new")
        parser.add_argument("--pipeline", type=int, default=None, help="pipeline id (default: the default pipeline)")

    def handle(self, *args, **opts):
        pipeline = Pipeline.objects.filter(pk=opts["pipeline"]).first() if opts["pipeline"] else None
        if opts["pipeline"] and pipeline is None:
            raise CommandError("There is no such pipeline.")
        try:
            result = import_history(opts["deals"], opts["events"], pipeline=pipeline)
        except ImportFailed as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"Nothing was imported: {len(exc.errors)} problem(s).") from None
        self.stdout.write(
            f"Imported {result.deals} deals with {result.stage_changes} stage changes and "
            f"{result.deal_changes} field changes; {result.organizations_created} new organisations."
        )
        if result.users_created:
            self.stdout.write(f"New reps: {', '.join(result.users_created)}")
