"""`python manage.py rescore_leads [--demo-profile]`: score every lead against the ideal customer profile."""
from django.core.management.base import BaseCommand

from qualification.demo import demo_profile_create
from qualification.services import organizations_fit_rescore_all


class Command(BaseCommand):
    help = "Rescore every lead against the active ideal customer profile (in batches)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo-profile", action="store_true",
            help="First create the demo profile that fits the demo data, unless a profile exists.",
        )

    def handle(self, *args, demo_profile, **options):
        if demo_profile:
            profile, changed = demo_profile_create()
            if profile is not None:
                self.stdout.write(f"Created the demo profile “{profile}”; {changed} leads scored.")
                return
        changed = organizations_fit_rescore_all()
        self.stdout.write(f"{changed} leads got a new fit score.")
