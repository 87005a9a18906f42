from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AttachmentsConfig(AppConfig):
    name = "attachments"
    verbose_name = _("Files")

    def ready(self):
        from django.core import checks

        from . import extensions

        extensions.register()
        checks.register(libmagic_check)


def libmagic_check(app_configs=None, **kwargs):
    from . import content

    import shutil

    from django.core.checks import Warning

    warnings = []
    if not content.libmagic_available():
        warnings.append(Warning(
            "libmagic is not installed: uploaded files' types are recognised only for images and PDFs; other files "
            "are offered as downloads of unknown type.", hint="apt-get install libmagic1", id="attachments.W001",
        ))
    if shutil.which("pdftoppm") is None:
        warnings.append(Warning("pdftoppm is not installed: PDFs get no preview.", hint="apt-get install poppler-utils",
                                id="attachments.W002"))
    return warnings
