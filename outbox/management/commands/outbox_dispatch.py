from django.core.management.base import BaseCommand

from outbox import services


class Command(BaseCommand):
    help = (
        "Carry out the outbox's pending follow-ups now, in this process (what the worker's sweep does). "
        "`make run` calls it after seeding: a command ends before laptop mode's background thread runs them."
    )

    def handle(self, *args, **options):
        outcome = {}
        while due := services.messages_due(grace_seconds=0):
            done = services.messages_dispatch(due)
            for key, count in done.items():
                outcome[key] = outcome.get(key, 0) + count
            if not done.get("done"):
                break  # what is left failed and waits for its retry
        self.stdout.write(f"Outbox: {outcome or 'nothing pending'}.")
