"""Query-string filters of the list endpoints (django-filter, documented in the schema)."""
from datetime import timezone as dt_timezone

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from activities.models import Activity, ActivityKind, Note
from offers.models import Offer, Product
from pipeline.models import (
    Deal, DealStatus, ForecastCategory, LeadSource, Organization, Person, PersonEmail, PersonPhone, Stage, domain_normalize,
    phone_digits,
)

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.Filter):
    """An id: a whole number, so `?stage=1.5` or `?stage=x` is a 400 and not a silent guess."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.NullBooleanField):
    """true or false (1 or 0); anything else is an error, not the "unknown" a NullBooleanField makes of it."""

    widget = forms.TextInput  # the select widget would turn anything unknown into None before it is checked

    def to_python(self, value):
        text = str(value).strip().lower() if value is not None else ""
        if text in ("", "none"):
            return None
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError(_("Send true or false."), code="invalid")


class BoolFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date and time, compared in UTC: a far-fetched offset (+21:57) is valid ISO 8601
    but not for PostgreSQL, and a date at the edge of the calendar cannot move to UTC at all."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt_timezone.utc) if value.tzinfo else value
        except OverflowError:
            raise forms.ValidationError(_("This date and time is out of range."), code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


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
    industry = django_filters.CharFilter(field_name="industry", lookup_expr="iexact", max_length=100, label=_("Industry"))
    domain = django_filters.CharFilter(
        method="filter_domain", max_length=200, label=_("One of the organisation's domains, e.g. example.com")
    )
    customer = BoolFilter(
        field_name="customer_since", lookup_expr="isnull", exclude=True,
        label=_("true: customers (a deal was won); false: not yet"),
    )
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label=_("Text in the company, its domains, the main contact or their e-mail")
    )

    class Meta:
        model = Organization
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(domains__icontains=value) | Q(main_contact__name__icontains=value)
            | Q(main_contact__email__icontains=value)
        )

    def filter_domain(self, queryset, name, value):
        domain = domain_normalize(value)
        if not domain:
            return queryset
        # `domains` holds whole domains separated by spaces: match one of them, not a part.
        return queryset.filter(
            Q(domains=domain) | Q(domains__startswith=f"{domain} ") | Q(domains__endswith=f" {domain}")
            | Q(domains__contains=f" {domain} ")
        )


class PersonFilter(django_filters.FilterSet):
    organization = IdFilter(field_name="organization_id", label=_("Organisation id"))
    owner = IdFilter(field_name="owner_id", label=_("Owner (user) id"))
    email = django_filters.CharFilter(method="filter_email", max_length=254, label=_("One of the person's e-mail addresses"))
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label=_("Text in the name or an e-mail address, or digits of a phone number")
    )

    class Meta:
        model = Person
        fields: list[str] = []

    def filter_email(self, queryset, name, value):
        value = value.strip().lower()
        if not value:
            return queryset
        return queryset.filter(Exists(PersonEmail.objects.filter(person_id=OuterRef("pk"), address=value)))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        q = Q(name__icontains=value) | Q(Exists(PersonEmail.objects.filter(person_id=OuterRef("pk"), address__icontains=value)))
        digits = phone_digits(value)
        if len(digits) >= 3:  # by digits: "30 1234" finds "+49 (30) 1234-5"
            q |= Q(Exists(PersonPhone.objects.filter(person_id=OuterRef("pk"), digits__contains=digits)))
        return queryset.filter(q)


class StageFilter(django_filters.FilterSet):
    pipeline = IdFilter(field_name="pipeline_id", label=_("Pipeline id"))

    class Meta:
        model = Stage
        fields: list[str] = []


class SubjectFilterMixin(django_filters.FilterSet):
    """What an activity or note is about."""

    deal = IdFilter(field_name="deal_id", label=_("Deal id"))
    organization = IdFilter(field_name="organization_id", label=_("Organisation id (not its deals')"))
    person = IdFilter(field_name="person_id", label=_("Person id"))


class ActivityFilter(SubjectFilterMixin):
    owner = IdFilter(field_name="owner_id", label=_("Owner (user) id"))
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices, label=_("Kind"))
    done = BoolFilter(field_name="done_at", lookup_expr="isnull", exclude=True, label=_("true: done; false: open"))
    due_after = DateTimeFilter(
        field_name="due_at", lookup_expr="gte", label=_("Due at or after (ISO 8601 date and time)")
    )
    due_before = DateTimeFilter(
        field_name="due_at", lookup_expr="lt", label=_("Due before (ISO 8601 date and time)")
    )

    class Meta:
        model = Activity
        fields: list[str] = []


class NoteFilter(SubjectFilterMixin):
    author = IdFilter(field_name="author_id", label=_("Author (user) id"))
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("Written at or after (ISO 8601 date and time)")
    )

    class Meta:
        model = Note
        fields: list[str] = []


class ProductFilter(django_filters.FilterSet):
    active = BoolFilter(field_name="is_active", label=_("true: products still sold; false: retired ones"))
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact", max_length=3, label=_("Currency"))
    search = django_filters.CharFilter(method="filter_search", max_length=200, label=_("Text in the name or article number"))

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(sku__icontains=value))


class OfferFilter(django_filters.FilterSet):
    deal = IdFilter(field_name="deal_id", label=_("Deal id"))
    organization = IdFilter(field_name="deal__organization_id", label=_("Organisation id"))

    class Meta:
        model = Offer
        fields: list[str] = []
