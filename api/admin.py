from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ApiToken, DeliveryStatus, WebhookDelivery, WebhookEndpoint


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are created by their owner on the token page, which shows the key once

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset:
            token.revoke()


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "on_created", "on_moved", "on_won", "on_lost")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    fieldsets = (
        (None, {"fields": ("name", "url", "secret", "is_active")}),
        (_("Events"), {"fields": ("on_created", "on_moved", "on_won", "on_lost")}),
        (_("Address book events"), {"fields": (
            "on_person_created", "on_person_changed", "on_person_merged",
            "on_organization_created", "on_organization_changed", "on_organization_merged",
        )}),
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "endpoint", "event", "subject", "status", "attempts", "response_status")
    list_filter = ("status", "event", "endpoint")
    search_fields = ("uuid", "deal_id", "person_id", "organization_id")
    list_select_related = ("endpoint",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "uuid", "endpoint", "event", "deal_id", "person_id", "organization_id", "payload", "status", "attempts",
        "response_status", "last_error", "created_at", "last_attempt_at", "delivered_at",
    )
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("about"))
    def subject(self, delivery):
        """The deal, person or organisation the event is about, e.g. “deal 12”."""
        for name in ("deal_id", "person_id", "organization_id"):
            if getattr(delivery, name) is not None:
                return f"{WebhookDelivery._meta.get_field(name).verbose_name} {getattr(delivery, name)}"
        return "–"

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send the selected deliveries again"))
    def redeliver(self, request, queryset):
        from .tasks import webhook_deliveries_enqueue

        ids = list(queryset.values_list("pk", flat=True))
        queryset.update(status=DeliveryStatus.PENDING, attempts=0)
        webhook_deliveries_enqueue(ids)
        self.message_user(
            request,
            ngettext("%(n)d delivery queued again.", "%(n)d deliveries queued again.", len(ids)) % {"n": len(ids)},
            messages.SUCCESS,
        )
