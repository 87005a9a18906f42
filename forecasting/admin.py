from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.audit import AuditedAdminMixin

from .models import ForecastSnapshot, LearnedProbability, Quota


@admin.register(Quota)
class QuotaAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("period_start", "period_kind", "user", "team", "amount", "currency")
    list_filter = ("period_kind", "team", "currency")
    date_hierarchy = "period_start"
    autocomplete_fields = ()


@admin.register(LearnedProbability)
class LearnedProbabilityAdmin(admin.ModelAdmin):
    """Learned next to configured win probabilities, per stage and fit."""

    list_display = ("stage", "pipeline", "fitted_on", "configured_pct", "learned_pct", "history_pct", "closed_deals")
    list_filter = ("stage__pipeline", "fitted_on")
    list_select_related = ("stage", "stage__pipeline")
    ordering = ("-fitted_on", "stage__pipeline", "stage__position")

    @admin.display(description=_("pipeline"), ordering="stage__pipeline")
    def pipeline(self, obj):
        return obj.stage.pipeline

    @admin.display(description=_("configured"), ordering="configured")
    def configured_pct(self, obj):
        return f"{obj.configured * 100:.0f} %"

    @admin.display(description=_("learned"), ordering="learned")
    def learned_pct(self, obj):
        return f"{obj.learned * 100:.1f} %"

    @admin.display(description=_("history alone"))
    def history_pct(self, obj):
        return "—" if obj.history_only is None else f"{obj.history_only * 100:.1f} %"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ForecastSnapshot)
class ForecastSnapshotAdmin(admin.ModelAdmin):
    list_display = (
        "as_of",
        "pipeline",
        "team",
        "owner",
        "period_kind",
        "period_start",
        "method",
        "currency",
        "won",
        "expected",
        "p10",
        "p50",
        "p90",
    )
    list_filter = ("pipeline", "method", "period_kind", "currency", "as_of")
    list_select_related = ("pipeline", "team", "owner")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
