from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("REST API")

    def ready(self):
        from . import receivers  # noqa: F401  outgoing webhooks listen to the pipeline's deal events
        from . import schema  # noqa: F401  registers the token scheme with drf-spectacular
