"""Admins manage products and price lists here. Offers are written on the deal's pages through
the services; the admin shows them read-only (answers and history are evidence)."""
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from pipeline.exceptions import PipelineError
from pipeline.services import currency_clean

from .models import Offer, OfferEvent, OfferResponse, OfferVersion, PriceList, PriceListItem, Product


class CurrencyCheckedForm(forms.ModelForm):
    """Prices are in one of the configured currencies, the same rule as a deal's."""

    def clean_currency(self):
        try:
            return currency_clean(self.cleaned_data.get("currency"), current=self.instance.currency if self.instance.pk else None)
        except PipelineError as error:
            raise forms.ValidationError(str(error.message)) from error


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = CurrencyCheckedForm
    list_display = ["name", "sku", "unit", "list_price", "currency", "tax_rate", "is_active"]
    list_filter = ["is_active", "currency", "unit", "tax_rate"]
    list_editable = ["is_active"]
    search_fields = ["name", "sku", "description"]


class PriceListItemInline(admin.TabularInline):
    model = PriceListItem
    extra = 1
    autocomplete_fields = ["product"]


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    form = CurrencyCheckedForm
    list_display = ["name", "currency", "is_active"]
    list_filter = ["is_active", "currency"]
    inlines = [PriceListItemInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VersionInline(admin.TabularInline):
    model = OfferVersion
    fields = ["number", "status", "language", "sent_at", "approved_by", "approved_at", "closed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["number", "title", "deal", "created_by", "created_at"]
    search_fields = ["title", "deal__title", "deal__organization__name"]
    list_select_related = ["deal", "created_by"]
    inlines = [VersionInline]

    @admin.display(description=_("number"))
    def number(self, obj):
        return obj.number


class EventInline(admin.TabularInline):
    model = OfferEvent
    fields = ["at", "kind", "actor", "actor_label", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OfferVersion)
class OfferVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "language", "sent_at", "token_expires_at", "approved_by"]
    list_filter = ["status", "language"]
    list_select_related = ["offer", "approved_by"]
    exclude = ["token_hash"]
    inlines = [EventInline]


@admin.register(OfferResponse)
class OfferResponseAdmin(ReadOnlyAdmin):
    list_display = ["version", "kind", "name", "at", "ip_address", "deal_moved"]
    list_filter = ["kind", "deal_moved"]
    list_select_related = ["version__offer"]
