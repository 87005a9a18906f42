"""Roles as Django groups: which model permissions each role carries.

Row-level visibility (whose deals) lives in `pipeline.selectors`; these are the model-level
permissions the admin site and the API check. The data migration creates the groups, and
`role_groups_sync` (run after every `migrate`) adds permissions of models that appeared later,
so a new app's models reach the right roles without another migration. This module is the
source of a role's permissions: a permission missing from a role group is restored on the next
migrate. To give someone more, put them in an extra group as well.
"""
# Group names are stable identifiers (the role values); their labels are translated in the UI.
ROLE_GROUP_NAMES = {"rep": "rep", "manager": "manager", "admin": "admin"}

# Custom permissions declared on accounts.Team (see its Meta).
REASSIGN_DEALS = "accounts.reassign_team_deals"
VIEW_TEAM_FORECAST = "accounts.view_team_forecast"

_REP = [
    # Work their deals and leads.
    "pipeline.view_deal",
    "pipeline.add_deal",
    "pipeline.change_deal",
    "pipeline.view_organization",
    "pipeline.add_organization",
    "pipeline.change_organization",
    # Read the configuration the board is made of.
    "pipeline.view_pipeline",
    "pipeline.view_stage",
    "pipeline.view_transition",
    "pipeline.view_lostreason",
    "pipeline.view_stagechange",
    "pipeline.view_dealchange",
    # Their own forecast and quota.
    "forecasting.view_forecastsnapshot",
    "forecasting.view_quota",
]

_MANAGER = _REP + [
    "accounts.view_user",
    "accounts.view_team",
    "accounts.reassign_team_deals",
    "accounts.view_team_forecast",
    "forecasting.view_learnedprobability",
]

# "*" stands for every permission of the app: admins configure everything.
_ADMIN = ["pipeline.*", "accounts.*", "forecasting.*", "auth.*", "axes.*"]

ROLE_PERMISSIONS: dict[str, list[str]] = {"rep": _REP, "manager": _MANAGER, "admin": _ADMIN}



def _permissions_for(Permission, specs):
    """Permission rows matching `app_label.codename` or `app_label.*` specs (missing ones skipped)."""
    from django.db.models import Q

    query = Q(pk__in=[])
    for spec in specs:
        app_label, codename = spec.split(".", 1)
        if codename == "*":
            query |= Q(content_type__app_label=app_label)
        else:
            query |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(query)


def role_groups_sync(*, Group, Permission) -> None:
    """Create the role groups if missing and add every permission their role names.

    Takes the model classes so that the data migration can pass its historical models.
    """
    for role, specs in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=ROLE_GROUP_NAMES[role])
        wanted = set(_permissions_for(Permission, specs).values_list("pk", flat=True))
        have = set(group.permissions.values_list("pk", flat=True))
        missing = wanted - have
        if missing:
            group.permissions.add(*missing)
