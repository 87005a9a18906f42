from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = _("Offers")

    def ready(self):
        from . import receivers  # noqa: F401  listens to pipeline.signals.deals_changed
        from . import tasks  # noqa: F401  registered with Celery, so the beat schedule's names resolve
