from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = _("Pipeline")

    def ready(self):
        from .triggers import restore_after_migrate

        # SQLite drops a table's triggers when a migration rebuilds it (pipeline.triggers).
        post_migrate.connect(restore_after_migrate, sender=self, dispatch_uid="pipeline-open-totals-triggers")
