"""python manage.py create_user NAME --role rep|manager|admin [--team T] [--password P] [--email E]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = (
        "Create a Stageflow user with a role (rep, manager or admin), optionally in a team, which is "
        "created if it does not exist yet. Without --password a random password is generated and printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        # No `choices=` here: an unknown role gets our message, not argparse's usage text.
        parser.add_argument("--role", required=True, help="rep, manager or admin")
        parser.add_argument("--team", default=None, help="the team's name; created if missing")
        parser.add_argument("--password", default=None, help="checked against the password rules")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, team, password, email, **options):
        role = (role or "").strip().lower()
        if role not in Role.values:
            raise CommandError(f"Unknown role “{role}”. Choose one of: {', '.join(Role.values)}.")
        try:
            user, password, generated = user_create(
                username=username, role=role, team_name=team, password=password, email=email,
                actor_label="create_user command",
            )
        except ValidationError as error:
            raise CommandError(" ".join(str(m) for m in error.messages)) from error
        where = f" in team {user.team}" if user.team else ""
        if user.team and user.team.manager_id == user.pk:
            where += " (its manager)"
        self.stdout.write(self.style.SUCCESS(f"Created {user.role} “{user.username}”{where}."))
        if generated:
            self.stdout.write(f"Password: {password}")
            self.stdout.write("Hand it over safely; the user can change it at /accounts/password_change/.")
