"""Create the role groups rep, manager and admin with their model permissions, and put every
existing user into the group of their role."""
from django.db import migrations


def create_role_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from accounts.roles import ROLE_GROUP_NAMES, role_groups_sync

    # Permissions are normally created after the whole migrate run; create them now so that
    # the groups can hold them on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("accounts", "User")
    role_groups_sync(Group=Group, Permission=Permission)
    for role, name in ROLE_GROUP_NAMES.items():
        group = Group.objects.get(name=name)
        group.user_set.add(*User.objects.filter(role=role))


def remove_role_groups(apps, schema_editor):
    from accounts.roles import ROLE_GROUP_NAMES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUP_NAMES.values()).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_audit_and_team_permissions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("pipeline", "0002_default_pipeline"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
