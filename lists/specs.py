"""What each list shows: the records a person may see, the fields it filters, sorts and shows as
columns (related records' and custom fields included), its default columns and sort, and its tabs.
"""
from dataclasses import dataclass, field
from typing import Callable

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _

from activities import selectors as activity_selectors
from activities.models import Activity, ActivityKind
from pipeline import custom_fields, selectors
from pipeline.filters import FilterField, Kind, custom_filter_fields
from pipeline.models import (
    CompanySize, Consent, Deal, DealStatus, ForecastCategory, LeadSource, Organization, Person, Stage,
)

from .models import ListKind


@dataclass(frozen=True)
class Tab:
    key: str
    label: object
    params: tuple = ()


@dataclass
class ListSpec:
    kind: str
    label: object
    base: Callable  # (user) -> QuerySet of what the user may see, with what the columns read
    fields: Callable  # (user) -> list[FilterField]
    default_columns: tuple
    default_sort: str
    title_column: str
    tabs: tuple = ()
    # Where the amounts are (deals): totals per currency.
    money: tuple | None = None
    extra_fields: list = field(default_factory=list)


def _choices(choices) -> tuple:
    return tuple((value, str(label)) for value, label in choices)


# --- Deals ----------------------------------------------------------------------------------------


def _deals(user) -> QuerySet:
    return selectors.visible_deals(user).select_related("organization", "owner", "stage", "pipeline", "lost_reason")


def _deal_fields(user) -> list[FilterField]:
    stages = tuple(
        (s.pk, f"{s.pipeline} · {s}")
        for s in Stage.objects.filter(pipeline__in=selectors.visible_pipelines(user)).select_related("pipeline")
        .order_by("pipeline__position", "pipeline_id", "position", "pk")
    )
    return [
        FilterField("title", str(_("Title")), "title"),
        FilterField("status", str(_("Status")), "status", Kind.CHOICE, _choices(DealStatus.choices)),
        FilterField("stage", str(_("Stage")), "stage", Kind.ID, stages),
        FilterField("pipeline", str(_("Pipeline")), "pipeline", Kind.ID),
        FilterField("owner", str(_("Owner")), "owner", Kind.USER),
        FilterField("amount", str(_("Amount")), "amount", Kind.NUMBER),
        FilterField("currency", str(_("Currency")), "currency", Kind.CHOICE,
                    tuple((c, c) for c in settings.STAGEFLOW["CURRENCIES"])),
        FilterField("expected_close", str(_("Expected close")), "expected_close", Kind.DATE),
        FilterField("probability", str(_("Probability override (%)")), "probability", Kind.NUMBER),
        FilterField("next_step", str(_("Next step")), "next_step"),
        FilterField("forecast_category", str(_("Forecast category")), "forecast_category", Kind.CHOICE,
                    _choices(ForecastCategory.choices)),
        FilterField("lost_reason", str(_("Lost reason")), "lost_reason", Kind.ID),
        FilterField("stage_entered_at", str(_("In stage since")), "stage_entered_at", Kind.DATETIME),
        FilterField("created_at", str(_("Created")), "created_at", Kind.DATETIME),
        FilterField("closed_at", str(_("Closed")), "closed_at", Kind.DATETIME),
        FilterField("organization", str(_("Organisation")), "organization", Kind.ID),
        FilterField("organization.name", str(_("Organisation name")), "organization__name"),
        FilterField("organization.country", str(_("Organisation's country")), "organization__country"),
        FilterField("organization.industry", str(_("Organisation's industry")), "organization__industry"),
        FilterField("organization.source", str(_("Organisation's source")), "organization__source", Kind.CHOICE,
                    _choices(LeadSource.choices)),
        FilterField("organization.fit_score", str(_("Fit score")), "organization__fit_score", Kind.NUMBER),
        *custom_filter_fields(custom_fields.definitions("deal")),
        *custom_filter_fields(custom_fields.definitions("organization"), prefix="organization__"),
    ]


# --- Organisations ------------------------------------------------------------------------------


def _organizations(user) -> QuerySet:
    open_deal = Deal.objects.filter(organization_id=OuterRef("pk"), status=DealStatus.OPEN)
    return (
        selectors.visible_organizations(user).select_related("owner", "main_contact")
        .annotate(has_open_deal=Exists(open_deal))
    )


def _organization_fields(user) -> list[FilterField]:
    return [
        FilterField("name", str(_("Name")), "name"),
        FilterField("country", str(_("Country")), "country"),
        FilterField("industry", str(_("Industry")), "industry"),
        FilterField("city", str(_("City")), "city"),
        FilterField("company_size", str(_("Company size")), "company_size", Kind.CHOICE, _choices(CompanySize.choices)),
        FilterField("source", str(_("Source")), "source", Kind.CHOICE, _choices(LeadSource.choices)),
        FilterField("owner", str(_("Owner")), "owner", Kind.USER),
        FilterField("fit_score", str(_("Fit score")), "fit_score", Kind.NUMBER),
        FilterField("customer_since", str(_("Customer since")), "customer_since", Kind.DATE),
        FilterField("has_open_deal", str(_("Has an open deal")), "has_open_deal", Kind.BOOLEAN),
        FilterField("created_at", str(_("Created")), "created_at", Kind.DATETIME),
        *custom_filter_fields(custom_fields.definitions("organization")),
    ]


# --- People ---------------------------------------------------------------------------------------


def _people(user) -> QuerySet:
    return selectors.visible_persons(user).filter(erased_at__isnull=True).select_related("organization", "owner")


def _person_fields(user) -> list[FilterField]:
    return [
        FilterField("name", str(_("Name")), "name"),
        FilterField("job_title", str(_("Job title")), "job_title"),
        FilterField("email", str(_("E-mail")), "email"),
        FilterField("phone", str(_("Phone")), "phone"),
        FilterField("organization.name", str(_("Organisation")), "organization__name"),
        FilterField("organization.country", str(_("Organisation's country")), "organization__country"),
        FilterField("owner", str(_("Owner")), "owner", Kind.USER),
        FilterField("language", str(_("Language")), "language", Kind.CHOICE, _choices(settings.LANGUAGES)),
        FilterField("consent", str(_("Consent")), "consent", Kind.CHOICE, _choices(Consent.choices)),
        FilterField("created_at", str(_("Created")), "created_at", Kind.DATETIME),
        *custom_filter_fields(custom_fields.definitions("person")),
    ]


# --- Activities ----------------------------------------------------------------------------------


def _activities(user) -> QuerySet:
    return activity_selectors.visible_activities(user).select_related("owner", "deal", "organization", "person")


def _activity_fields(user) -> list[FilterField]:
    return [
        FilterField("title", str(_("Title")), "title"),
        FilterField("kind", str(_("Kind")), "kind", Kind.CHOICE, _choices(ActivityKind.choices)),
        FilterField("due_at", str(_("Due")), "due_at", Kind.DATETIME),
        FilterField("done_at", str(_("Done")), "done_at", Kind.DATETIME),
        FilterField("owner", str(_("Owner")), "owner", Kind.USER),
        FilterField("deal.title", str(_("Deal")), "deal__title"),
        FilterField("organization.name", str(_("Organisation")), "organization__name"),
        FilterField("person.name", str(_("Person")), "person__name"),
        FilterField("cancelled", str(_("Cancelled")), "cancelled", Kind.BOOLEAN),
        *custom_filter_fields(custom_fields.definitions("activity")),
    ]


SPECS = {
    ListKind.DEALS: ListSpec(
        kind=ListKind.DEALS, label=_("Deals"), base=_deals, fields=_deal_fields,
        default_columns=("title", "organization.name", "stage", "status", "owner", "amount", "currency", "expected_close"),
        default_sort="-created_at", title_column="title",
        tabs=(
            Tab("open", _("Open"), (("status", "open"),)),
            Tab("won", _("Won"), (("status", "won"),)),
            Tab("lost", _("Lost"), (("status", "lost"),)),
            Tab("all", _("All")),
        ),
        money=("amount", "currency"),
    ),
    ListKind.ORGANIZATIONS: ListSpec(
        kind=ListKind.ORGANIZATIONS, label=_("Organisations"), base=_organizations, fields=_organization_fields,
        default_columns=("name", "country", "industry", "owner", "fit_score", "has_open_deal"),
        default_sort="name", title_column="name",
    ),
    ListKind.PEOPLE: ListSpec(
        kind=ListKind.PEOPLE, label=_("People"), base=_people, fields=_person_fields,
        default_columns=("name", "organization.name", "job_title", "email", "phone", "owner"),
        default_sort="name", title_column="name",
    ),
    ListKind.ACTIVITIES: ListSpec(
        kind=ListKind.ACTIVITIES, label=_("Activities"), base=_activities, fields=_activity_fields,
        default_columns=("title", "kind", "due_at", "done_at", "owner", "deal.title", "organization.name"),
        default_sort="due_at", title_column="title",
    ),
}

MODELS = {ListKind.DEALS: Deal, ListKind.ORGANIZATIONS: Organization, ListKind.PEOPLE: Person, ListKind.ACTIVITIES: Activity}
