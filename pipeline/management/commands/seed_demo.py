"""`python manage.py seed_demo --deals N --seed S [--if-empty]`: demo users, leads, deals and history."""
from django.core.management.base import BaseCommand, CommandError

from pipeline.demo import seed_demo
from pipeline.models import Deal

from .demo_logins import print_logins


class Command(BaseCommand):
    help = (
        "Create demo data: an admin, two teams with a manager and reps, realistic leads and N deals "
        "over all stages of the default pipeline with 18 months of stage history. Deterministic per seed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--deals", type=int, default=400, help="How many deals to create (default 400).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same data.")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already holds deals."
        )
        parser.add_argument(
            "--no-logins", action="store_true", help="Do not print the demo logins (make run prints them once, last)."
        )

    def handle(self, *args, deals, seed, if_empty, **options):
        if deals < 0:
            raise CommandError("--deals cannot be negative.")
        if if_empty and Deal.objects.exists():
            self.stdout.write("The database already holds deals; no demo data added.")
            return
        try:
            result = seed_demo(deals=deals, seed=seed)
        except ValueError as error:
            raise CommandError(str(error)) from error
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(result.by_status.items()))
        self.stdout.write(self.style.SUCCESS(
            f"Created {result.deals} deals ({statuses or 'none'}) for {result.organizations} leads, "
            f"{result.stage_changes} stage changes and {result.deal_changes} deal changes "
            f"in {result.seconds:.1f} s (seed {seed})."
        ))
        if not options["no_logins"]:
            print_logins(self.stdout, self.style)
