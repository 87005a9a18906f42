from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualificationConfig(AppConfig):
    name = "qualification"
    verbose_name = _("Qualification")

    def ready(self):
        from pipeline.extensions import register_lead_panel, register_lead_scorer

        from . import receivers  # noqa: F401  rescores every lead when the profile changes
        from .services import SCORED_FIELDS, leads_score

        from .panels import lead_fit_panel

        register_lead_scorer("qualification", leads_score, fields=SCORED_FIELDS)
        register_lead_panel("qualification", lead_fit_panel)
