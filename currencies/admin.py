"""Exchange rates in the Django admin: every save and delete goes through currencies.services (which
audits it), files are imported on a page of their own, and the fetch's log is shown read-only."""
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _, gettext_lazy

from . import services
from .forms import BudgetRateForm, ExchangeRateForm, RatesFileForm
from .importing import RatesFileInvalid, rates_from_csv
from .models import BudgetRate, ExchangeRate, RateFetch

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class ServiceWritesMixin:
    """Save and delete through the services; currency and date of a stored rate stay as they are
    (a rate for another day is another rate)."""

    immutable = ("currency",)

    def get_readonly_fields(self, request, obj=None):
        return self.immutable if obj is not None else ()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.order_by("pk"):
                self.delete_model(request, obj)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ServiceWritesMixin, admin.ModelAdmin):
    form = ExchangeRateForm
    immutable = ("currency", "day")
    list_display = ("currency", "day", "rate_text", "base", "source", "updated_at")
    list_filter = ("currency", "source", "base")
    date_hierarchy = "day"
    search_fields = ("currency",)
    change_list_template = "admin/currencies/exchangerate/change_list.html"

    @admin.display(description=gettext_lazy("rate"), ordering="rate")
    def rate_text(self, obj):
        return _("1 %(currency)s = %(rate)s %(base)s") % {
            "currency": obj.currency, "rate": f"{obj.rate.normalize():f}", "base": obj.base,
        }  # fmt: skip

    def save_model(self, request, obj, form, change):
        saved = services.exchange_rate_set(currency=obj.currency, day=obj.day, rate=obj.rate, actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.exchange_rate_delete(rate=obj, actor=request.user)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="currencies_exchangerate_import"),
            path("fetch/", self.admin_site.admin_view(self.fetch_view), name="currencies_exchangerate_fetch"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "reporting_currency": settings.STAGEFLOW["REPORTING_CURRENCY"],
            "open_deals_rate": settings.STAGEFLOW["OPEN_DEALS_RATE"],
            "fetch_enabled": settings.STAGEFLOW["RATES_FETCH_ENABLED"],
            "last_fetch": RateFetch.objects.order_by("-started_at", "-pk").first(),
            "may_import": self.has_add_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """Upload a CSV file of rates: every bad line is listed, and nothing is written unless all
        lines are good."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RatesFileForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_UPLOAD_BYTES:
                errors = [_("The file is larger than 5 MB.")]
            else:
                try:
                    rows = rates_from_csv(upload.read())
                    result = services.exchange_rates_import(
                        rows=rows, actor=request.user, actor_label=upload.name[:100]
                    )
                except RatesFileInvalid as invalid:
                    errors = invalid.errors
                except services.RateRefused as refusal:
                    errors = [str(refusal.message)]
                else:
                    self.message_user(
                        request,
                        _("%(created)s rates added, %(updated)s changed, %(unchanged)s unchanged.") % {
                            "created": result.created, "updated": result.updated, "unchanged": result.unchanged,
                        },  # fmt: skip
                        messages.SUCCESS,
                    )
                    return redirect("admin:currencies_exchangerate_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import exchange rates"),
            "form": form,
            "errors": errors,
            "reporting_currency": settings.STAGEFLOW["REPORTING_CURRENCY"],
        }
        return TemplateResponse(request, "admin/currencies/exchangerate/import.html", context, status=400 if errors else 200)

    def fetch_view(self, request):
        """Fetch the reference rates now (the scheduled task, queued for the worker)."""
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        if not settings.STAGEFLOW["RATES_FETCH_ENABLED"]:
            self.message_user(request, _("Fetching rates is switched off for this installation."), messages.WARNING)
        else:
            from .tasks import exchange_rates_fetch

            exchange_rates_fetch.delay()
            self.message_user(request, _("The rates are being fetched; the result appears below."), messages.INFO)
        return redirect(reverse("admin:currencies_exchangerate_changelist"))


@admin.register(BudgetRate)
class BudgetRateAdmin(ServiceWritesMixin, admin.ModelAdmin):
    form = BudgetRateForm
    immutable = ("currency", "year")
    list_display = ("year", "currency", "rate", "base")
    list_filter = ("year", "currency")

    def save_model(self, request, obj, form, change):
        saved = services.budget_rate_set(currency=obj.currency, year=obj.year, rate=obj.rate, actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.budget_rate_delete(rate=obj, actor=request.user)


@admin.register(RateFetch)
class RateFetchAdmin(admin.ModelAdmin):
    """The log of the scheduled fetch: read-only."""

    list_display = ("started_at", "ok", "rates_written", "latest_day", "message", "source_url")
    list_filter = ("ok",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
