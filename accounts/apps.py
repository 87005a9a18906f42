from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_role_groups(sender, **kwargs):
    from django.contrib.auth.models import Group, Permission

    from .roles import ROLE_PERMISSIONS

    labels = {spec.split(".", 1)[0] for specs in ROLE_PERMISSIONS.values() for spec in specs}
    if sender.label not in labels:
        return
    from .roles import role_groups_sync

    role_groups_sync(Group=Group, Permission=Permission)


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        # Models added by later apps get their permissions after their own migrate run;
        # this keeps the role groups complete without a data migration per app.
        post_migrate.connect(_sync_role_groups, dispatch_uid="accounts.sync_role_groups")
