from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailConfig(AppConfig):
    name = "mail"
    verbose_name = _("E-mail and calendar")

    def ready(self):
        from . import extensions, receivers  # noqa: F401  receivers subscribe to activities.signals

        extensions.register()
