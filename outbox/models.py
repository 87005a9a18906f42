from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One follow-up of a change for one handler: written with the change, done after it."""

    topic = models.CharField(_("topic"), max_length=64)
    handler = models.CharField(_("handler"), max_length=100)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Not tried again before this time (backoff after a failure).
    available_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("done"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            # The sweep's question: what is not done yet and due? Done rows are the vast majority.
            models.Index(fields=["available_at"], condition=Q(dispatched_at__isnull=True), name="outbox_pending_due"),
        ]

    def __str__(self):
        return f"{self.handler} #{self.pk}"
