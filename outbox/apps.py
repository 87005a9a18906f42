from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = _("Outbox")

    def ready(self):
        # Laptop mode runs the follow-ups in a thread of this process: after the response of the
        # request whose change they follow, not while it is still being answered.
        from config import background

        background.hold_during_requests()
