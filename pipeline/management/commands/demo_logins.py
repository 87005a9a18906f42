"""`python manage.py demo_logins`: print the demo users' sign-in names and passwords."""
from django.core.management.base import BaseCommand

from pipeline.demo import demo_logins


def print_logins(stdout, style) -> None:
    rows = demo_logins()
    if not rows:
        stdout.write("No demo users yet: run `python manage.py seed_demo`.")
        return
    stdout.write(style.MIGRATE_HEADING("Demo logins (sign in at /accounts/login/):"))
    width = max(len(r[0]) for r in rows)
    role_width = max(len(r[1]) for r in rows)
    for username, role, team, password in rows:
        team_text = f"team {team}" if team else ""
        stdout.write(f"  {username:<{width}}  password {password}  {role:<{role_width}}  {team_text}".rstrip())
    stdout.write("  (unless someone changed them since)")


class Command(BaseCommand):
    help = "Print the demo users' logins (created by seed_demo)."

    def handle(self, *args, **options):
        print_logins(self.stdout, self.style)
