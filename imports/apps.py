from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = _("Import")

    def ready(self):
        from . import tasks  # noqa: F401  registered with Celery, so the beat schedule's names resolve
