from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import OutboxMessage


class PendingFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("pending", _("Not done")), ("failing", _("Failing")), ("done", _("Done"))]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(dispatched_at__isnull=True)
        if self.value() == "failing":
            return queryset.filter(dispatched_at__isnull=True, attempts__gt=0)
        if self.value() == "done":
            return queryset.filter(dispatched_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("pk", "handler", "created_at", "dispatched_at", "attempts", "available_at")
    list_filter = (PendingFilter, "handler")
    date_hierarchy = "created_at"
    readonly_fields = (
        "topic", "handler", "payload", "created_at", "available_at", "dispatched_at", "attempts", "last_error",
    )
    actions = ["dispatch_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Try the selected messages again now"))
    def dispatch_now(self, request, queryset):
        from .services import dispatch_after_commit

        ids = list(queryset.filter(dispatched_at__isnull=True).values_list("pk", flat=True))
        OutboxMessage.objects.filter(pk__in=ids).update(available_at=timezone.now())
        dispatch_after_commit(ids)
        self.message_user(
            request,
            ngettext("%(n)d message handed to the worker.", "%(n)d messages handed to the worker.", len(ids))
            % {"n": len(ids)},
            messages.SUCCESS,
        )
