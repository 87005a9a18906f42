"""Personal API tokens and outgoing webhooks.

A token is shown once when it is created; only its SHA-256 digest is stored. Tokens carry
32 random bytes, so a fast hash is enough (there is nothing to brute-force as with passwords).
"""
import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_PREFIX = "sf_"


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, user__is_active=True)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What the token is for, e.g. “Billing sync”."))
    prefix = models.CharField(_("starts with"), max_length=12, editable=False)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, *, user, name: str) -> tuple["ApiToken", str]:
        """Create a token and return it with its key, which is never stored and never shown again."""
        key = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name.strip(), prefix=key[:10], digest=token_digest(key))
        return token, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class WebhookEvent(models.TextChoices):
    # A deal's events are named without their subject (stored so before the address book had
    # events); they are sent as `deal.<event>`.
    CREATED = "created", _("Deal created")
    MOVED = "moved", _("Deal moved")
    WON = "won", _("Deal won")
    LOST = "lost", _("Deal lost")
    PERSON_CREATED = "person.created", _("Person created")
    PERSON_CHANGED = "person.changed", _("Person changed")
    PERSON_MERGED = "person.merged", _("Person merged")
    ORGANIZATION_CREATED = "organization.created", _("Organisation created")
    ORGANIZATION_CHANGED = "organization.changed", _("Organisation changed")
    ORGANIZATION_MERGED = "organization.merged", _("Organisation merged")


def webhook_event_name(event: str) -> str:
    """The name receivers see (payload `event`, header X-Stageflow-Event): `deal.moved`, `person.created`."""
    return event if "." in event else f"deal.{event}"


def webhook_secret_default() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """A URL that receives deal, person and organisation events, signed with its secret (HMAC-SHA256).

    The address book's events are off by default, so that a receiver written for deal events
    only is not sent payloads of another shape; its admin ticks them on."""

    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("secret"), max_length=200, default=webhook_secret_default,
        help_text=_("Shared with the receiver, which checks the X-Stageflow-Signature header with it."),
    )
    on_created = models.BooleanField(_("deal created"), default=True)
    on_moved = models.BooleanField(_("deal moved"), default=True)
    on_won = models.BooleanField(_("deal won"), default=True)
    on_lost = models.BooleanField(_("deal lost"), default=True)
    on_person_created = models.BooleanField(_("person created"), default=False)
    on_person_changed = models.BooleanField(_("person changed"), default=False)
    on_person_merged = models.BooleanField(_("person merged"), default=False)
    on_organization_created = models.BooleanField(_("organisation created"), default=False)
    on_organization_changed = models.BooleanField(_("organisation changed"), default=False)
    on_organization_merged = models.BooleanField(_("organisation merged"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")

    def __str__(self):
        return self.name

    def wants(self, event: str) -> bool:
        return event in WebhookEvent.values and getattr(self, "on_" + event.replace(".", "_"))


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one endpoint; the attempts are counted, not rows."""

    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("webhook"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=32, choices=WebhookEvent.choices)
    # What the event is about: one of the three.
    deal_id = models.PositiveBigIntegerField(_("deal"), null=True, blank=True)
    person_id = models.PositiveBigIntegerField(_("person"), null=True, blank=True)
    organization_id = models.PositiveBigIntegerField(_("organisation"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    response_status = models.PositiveSmallIntegerField(_("last response status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self):
        return f"{self.get_event_display()} → {self.endpoint} ({self.get_status_display()})"
