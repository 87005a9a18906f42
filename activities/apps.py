from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    name = "activities"
    verbose_name = _("Activities, notes and onboarding")

    def ready(self):
        from . import extensions, receivers  # noqa: F401  receivers connect to pipeline.signals

        extensions.register()
