from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualificationConfig(AppConfig):
    name = "qualification"
    verbose_name = _("Qualification")

    def ready(self):
        from pipeline.extensions import register_organization_panel, register_organization_scorer

        from . import receivers  # noqa: F401  rescores every lead when the profile changes
        from .services import SCORED_FIELDS, organizations_score

        from .panels import organization_fit_panel

        register_organization_scorer("qualification", organizations_score, fields=SCORED_FIELDS)
        register_organization_panel("qualification", organization_fit_panel, place="details")
