from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy as _

from accounts.audit import AuditedAdminMixin
from pipeline.models import Stage

from .models import ForecastFit, ForecastSnapshot, LearnedProbability, Quota


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
        "converted",
        "won",
        "expected",
        "p10",
        "p50",
        "p90",
    )
    list_filter = ("pipeline", "method", "period_kind", "currency", "converted", "as_of")
    list_select_related = ("pipeline", "team", "owner")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _slip_count(histogram) -> int:
    return sum(count for _, count in histogram or ())


def _median_slip(histogram) -> int | None:
    """The median of slips kept as [[days, count], …] sorted by days (None without any)."""
    total = _slip_count(histogram)
    seen = 0
    for days, count in histogram or ():
        seen += count
        if 2 * seen >= total:
            return days
    return None


@admin.register(ForecastFit)
class ForecastFitAdmin(admin.ModelAdmin):
    """The fits the daily snapshot uses (read-only): per stage the learned next to the configured
    probability and the close-date slips of won deals, and how strongly outcomes move together."""

    list_display = ("pipeline", "fitted_on", "fitted_at", "stage_count", "closed_deals", "correlation_pct")
    list_filter = ("pipeline", "fitted_on")
    list_select_related = ("pipeline",)
    date_hierarchy = "fitted_on"
    fields = ("pipeline", "fitted_on", "fitted_at", "correlation_pct", "prior_strength", "pooled_slips", "stages_table")
    readonly_fields = fields

    def get_queryset(self, request):
        # The outlook's timing tables and the backtest are not shown here, and are large to read.
        return super().get_queryset(request).defer("outlook", "evaluation")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("stages"))
    def stage_count(self, obj):
        return len(obj.parameters.get("stages", []))

    @admin.display(description=_("closed deals seen (most in one stage)"))
    def closed_deals(self, obj):
        """How much history is behind the fit: the closed deals that passed through its busiest stage."""
        return max((stage.get("closed_deals", 0) for stage in obj.parameters.get("stages", [])), default=0)

    @admin.display(description=_("correlation of outcomes"))
    def correlation_pct(self, obj):
        return f"{float(obj.parameters.get('correlation', 0)) * 100:.1f} %"

    @admin.display(description=_("prior strength (pseudo-deals)"))
    def prior_strength(self, obj):
        return f"{float(obj.parameters.get('prior_strength', 0)):g}"

    @admin.display(description=_("close-date slips of all won deals"))
    def pooled_slips(self, obj):
        return self._slips(obj.parameters.get("pooled_slips"))

    @staticmethod
    def _slips(histogram) -> str:
        count = _slip_count(histogram)
        if not count:
            return "—"
        return gettext("%(count)d won deals, median %(days)+d days") % {"count": count, "days": _median_slip(histogram)}

    @admin.display(description=_("per stage"))
    def stages_table(self, obj):
        stages = obj.parameters.get("stages", [])
        names = Stage.objects.in_bulk([s["id"] for s in stages])
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    names[s["id"]].name if s["id"] in names else gettext("a stage deleted since (#%(id)s)") % s,
                    f"{float(s.get('configured', 0)) * 100:.0f} %",
                    f"{float(s['learned']) * 100:.1f} %",
                    s.get("closed_deals", 0),
                    self._slips(s.get("slips")),
                )
                for s in stages
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            gettext("stage"),
            gettext("configured"),
            gettext("learned"),
            gettext("closed deals seen"),
            gettext("close-date slips"),
            rows,
        )
