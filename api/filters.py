"""Query-string filters of the list endpoints (django-filter, documented in the schema)."""
import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from pipeline.models import Deal, DealStatus, ForecastCategory, Organization, LeadSource, Stage

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An id: a whole number, so `?stage=1.5` or `?stage=x` is a 400 and not a silent guess."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class DealFilter(django_filters.FilterSet):
    pipeline = IdFilter(field_name="pipeline_id", label=_("Pipeline id"))
    stage = IdFilter(field_name="stage_id", label=_("Stage id"))
    owner = IdFilter(field_name="owner_id", label=_("Owner (user) id"))
    organization = IdFilter(field_name="organization_id", label=_("Lead id"))
    status = django_filters.ChoiceFilter(choices=DealStatus.choices, label=_("Status"))
    forecast_category = django_filters.ChoiceFilter(choices=ForecastCategory.choices, label=_("Forecast category"))
    expected_close_after = django_filters.DateFilter(
        field_name="expected_close", lookup_expr="gte", label=_("Expected close on or after (YYYY-MM-DD)")
    )
    expected_close_before = django_filters.DateFilter(
        field_name="expected_close", lookup_expr="lte", label=_("Expected close on or before (YYYY-MM-DD)")
    )
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label=_("Text in the title, the company or the contact person")
    )
    ordering = django_filters.OrderingFilter(
        fields=["created_at", "updated_at", "expected_close", "amount", "title", "stage_entered_at"],
        label=_("Sort order; prefix a field with - for descending"),
    )

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value) | Q(organization__name__icontains=value) | Q(organization__main_contact__name__icontains=value)
        )


class OrganizationFilter(django_filters.FilterSet):
    owner = IdFilter(field_name="owner_id", label=_("Owner (user) id"))
    source = django_filters.ChoiceFilter(choices=LeadSource.choices, label=_("Source"))
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact", max_length=2, label=_("Country"))
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label=_("Text in the company, contact person or e-mail")
    )

    class Meta:
        model = Organization
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(main_contact__name__icontains=value) | Q(main_contact__email__icontains=value)
        )


class StageFilter(django_filters.FilterSet):
    pipeline = IdFilter(field_name="pipeline_id", label=_("Pipeline id"))

    class Meta:
        model = Stage
        fields: list[str] = []
