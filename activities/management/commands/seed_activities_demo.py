"""`python manage.py seed_activities_demo [--seed S] [--if-empty]`: activities, notes and onboarding
checklists for the demo deals (run after seed_demo)."""
from django.core.management.base import BaseCommand

from activities.demo import seed_activities_demo
from activities.models import Activity


class Command(BaseCommand):
    help = "Plan demo activities, notes and onboarding checklists on the existing deals. Deterministic per seed."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when activities exist already.")

    def handle(self, *args, seed, if_empty, **options):
        if if_empty and Activity.objects.exists():
            self.stdout.write("Activities exist already; no demo activities added.")
            return
        result = seed_activities_demo(seed=seed)
        self.stdout.write(self.style.SUCCESS(
            f"Planned {result.activities} activities, wrote {result.notes} notes and "
            f"{result.checklists} onboarding checklists (seed {seed})."
        ))
