"""Forms of the board, the deal pages and the lead pages.

Forms validate input and offer choices the user may see; they never write deals themselves
(views pass the cleaned data to pipeline.services).
"""
import re

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from localization.fields import AmountField, AmountInput

from . import selectors
from .models import ForecastCategory, Organization, LostReason, Stage


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _currency_choices(current: str | None = None) -> list[tuple[str, str]]:
    codes = list(settings.STAGEFLOW["CURRENCIES"])
    if current and current not in codes:
        codes.append(current)
    return [(code, code) for code in codes]


# --- The board -------------------------------------------------------------------------------


class BoardFilterForm(forms.Form):
    """The board's filters, read from the URL so that a filtered view can be shared.

    Choices are built from lists the view already fetched, so validating costs no query.
    """

    pipeline = forms.TypedChoiceField(label=_("Pipeline"), coerce=int, required=False, empty_value=None)
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False, empty_value=None)
    q = forms.CharField(
        label=_("Search"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Title, company or contact")}),
    )
    close_from = forms.DateField(label=_("Closing from"), required=False, widget=DateInput())
    close_to = forms.DateField(label=_("Closing until"), required=False, widget=DateInput())

    def __init__(self, data=None, *, pipelines, owners, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["pipeline"].choices = [(p.pk, str(p)) for p in pipelines]
        self.fields["owner"].choices = [("", _("Everyone"))] + [(u.pk, str(u)) for u in owners]
        for name, field in self.fields.items():
            css = "form-select form-select-sm" if name in ("pipeline", "owner") else "form-control form-control-sm"
            field.widget.attrs.setdefault("class", css)

    def clean(self):
        data = super().clean()
        start, end = data.get("close_from"), data.get("close_to")
        if start and end and start > end:
            self.add_error("close_to", _("The end of the range lies before its start."))
        return data

    def filters(self) -> dict:
        """The valid filters, as keyword arguments of selectors.board_deals."""
        data = self.cleaned_data if self.is_bound else {}
        return {
            "owner_id": data.get("owner"),
            "q": (data.get("q") or "").strip(),
            "close_from": data.get("close_from"),
            "close_to": data.get("close_to"),
        }


class BoardStateForm(forms.Form):
    """The filters a move or quick-add sends along, so that column totals match the board.

    No choices here: board_deals only ever narrows the user's visible deals, so an owner id
    the user may not see just yields empty totals.
    """

    owner = forms.IntegerField(required=False, min_value=1)
    q = forms.CharField(required=False, max_length=100)
    close_from = forms.DateField(required=False)
    close_to = forms.DateField(required=False)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "owner_id": data.get("owner"),
            "q": (data.get("q") or "").strip(),
            "close_from": data.get("close_from"),
            "close_to": data.get("close_to"),
        }


class MoveForm(forms.Form):
    stage = forms.IntegerField(
        min_value=1,
        max_value=2**63 - 1,  # an id; larger numbers name no stage (and overflow the database's integers)
        error_messages={
            "required": _("Choose the stage to move this deal to."),
            "invalid": _("This stage does not exist."),
            "min_value": _("This stage does not exist."),
            "max_value": _("This stage does not exist."),
        },
    )
    version = forms.IntegerField(
        min_value=1,
        error_messages={
            "required": _("The deal's version is missing. Reload the page and try again."),
            "invalid": _("The deal's version is not valid. Reload the page and try again."),
            "min_value": _("The deal's version is not valid. Reload the page and try again."),
        },
    )


class VersionForm(forms.Form):
    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={
            "required": _("The deal's version is missing. Reload the page and try again."),
            "invalid": _("The deal's version is not valid. Reload the page and try again."),
            "min_value": _("The deal's version is not valid. Reload the page and try again."),
        },
    )


class LoseForm(VersionForm):
    reason = forms.ModelChoiceField(
        label=_("Why was it lost?"),
        queryset=LostReason.objects.filter(is_active=True),
        empty_label=_("Choose a reason…"),
        error_messages={
            "required": _("Choose why this deal was lost."),
            "invalid_choice": _("Choose one of the listed reasons."),
        },
    )
    note = forms.CharField(
        label=_("Note (optional)"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    field_order = ["reason", "note", "version"]


class SnoozeForm(forms.Form):
    """Snooze a deal's rotting warning until a date, with a reason."""

    until = forms.DateField(label=_("Snooze until"), required=False, widget=DateInput(attrs={"class": "form-control"}))
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=200, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class QuickAddForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), max_length=200,
        error_messages={"required": _("Give the deal a title.")},
        widget=forms.TextInput(attrs={"placeholder": _("Deal title")}),
    )
    company = forms.CharField(
        label=_("Company"), max_length=200,
        error_messages={"required": _("Name the company (an existing lead or a new one).")},
        widget=forms.TextInput(attrs={"placeholder": _("Company"), "list": "sf-organization-names"}),
    )
    amount = AmountField(label=_("Amount"), required=False, min_value=0, widget=AmountInput(attrs={"placeholder": _("Amount")}))


# --- Deals -----------------------------------------------------------------------------------


class OrganizationLookupInput(forms.TextInput):
    """A company picked by typing its name: suggestions arrive as the user types (HTMX into a
    datalist, from pipeline:lead_lookup), so a page never lists every lead the user may see (tens of
    thousands after an import). Without JavaScript the exact name works too."""

    template_name = "pipeline/widgets/organization_lookup.html"

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off", "placeholder": _("Type a company name"), **(attrs or {})})


_LEAD_ID = re.compile(r"\(#(\d+)\)\s*$")


def organization_label(organization: Organization) -> str:
    """How a lead is written in the lookup field: its name and its id, which tells two companies
    of the same name apart."""
    return f"{organization.name} (#{organization.pk})"


class OrganizationChoiceField(forms.ModelChoiceField):
    """A lead of the queryset, typed as "Name (#id)" (what a suggestion fills in) or as a name that
    exactly one of them has."""

    widget = OrganizationLookupInput
    default_error_messages = {
        "invalid_choice": _("There is no company “%(value)s” that you can choose; pick one from the suggestions."),
        "ambiguous": _("Several companies are called “%(value)s”; pick one from the suggestions."),
    }

    def prepare_value(self, value):
        if isinstance(value, Organization):
            return organization_label(value)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            organization = self.queryset.filter(pk=value).first()
            return organization_label(organization) if organization else value
        return value

    def to_python(self, value):
        text = (value or "").strip() if isinstance(value, str) else value
        if text in self.empty_values:
            return None
        if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
            found = list(self.queryset.filter(pk=text)[:1])
        elif match := _LEAD_ID.search(text):
            found = list(self.queryset.filter(pk=match.group(1))[:1])
        else:
            found = list(self.queryset.filter(name__iexact=text)[:2])
            if len(found) > 1:
                raise forms.ValidationError(self.error_messages["ambiguous"], code="ambiguous", params={"value": text})
        if not found:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": text})
        return found[0]

    def validate(self, value):
        forms.Field.validate(self, value)


class DealFieldsMixin(forms.Form):
    """The fields a rep edits on a deal; choice lists follow what the user may see."""

    title = forms.CharField(label=_("Title"), max_length=200, error_messages={"required": _("Give the deal a title.")})
    organization = OrganizationChoiceField(label=_("Lead"), queryset=Organization.objects.none(), required=False)
    amount = AmountField(label=_("Amount"), required=False, min_value=0)
    currency = forms.ChoiceField(label=_("Currency"))
    expected_close = forms.DateField(label=_("Expected close"), required=False, widget=DateInput())
    probability = forms.IntegerField(
        label=_("Probability override (%)"), required=False, min_value=0, max_value=100,
        help_text=_("Leave empty to use the stage's probability."),
    )
    next_step = forms.CharField(label=_("Next step"), required=False, max_length=200)
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None)

    def __init__(self, *args, user, deal=None, **kwargs):
        super().__init__(*args, **kwargs)
        organizations = selectors.visible_organizations(user)
        owners = selectors.assignable_users(user)
        if deal is not None:
            # The deal's current lead and owner stay valid choices even if the user could not pick them.
            organizations = organizations | Organization.objects.filter(pk=deal.organization_id)
            owners = owners | get_user_model().objects.filter(pk=deal.owner_id)
        self.fields["organization"].queryset = organizations.distinct().order_by("name", "pk")
        self.fields["owner"].queryset = owners.distinct().order_by("first_name", "last_name", "username")
        self.fields["owner"].label_from_instance = lambda u: str(u)
        self.fields["currency"].choices = _currency_choices(deal.currency if deal else None)
        self.fields["currency"].initial = settings.STAGEFLOW["DEFAULT_CURRENCY"]


class DealEditForm(DealFieldsMixin):
    forecast_category = forms.ChoiceField(
        label=_("Forecast category"), choices=ForecastCategory.choices, required=False,
        help_text=_("Your own call, independent of the stage."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, user, deal, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "title": deal.title, "organization": deal.organization_id, "amount": deal.amount, "currency": deal.currency,
                "expected_close": deal.expected_close, "probability": deal.probability,
                "next_step": deal.next_step, "owner": deal.owner_id, "version": deal.version,
                "forecast_category": deal.forecast_category,
            },
        )
        super().__init__(*args, user=user, deal=deal, **kwargs)
        self.fields["organization"].required = True
        self.fields["organization"].error_messages["required"] = _("Choose the lead this deal belongs to.")
        # "Closed won" follows from winning the deal; a rep does not pick it.
        self.fields["forecast_category"].choices = [
            (value, label) for value, label in ForecastCategory.choices
            if value != ForecastCategory.CLOSED or deal.forecast_category == ForecastCategory.CLOSED
        ]

    def changes(self) -> dict:
        """Cleaned values to pass to services.deal_update (everything but the version)."""
        changes = {name: value for name, value in self.cleaned_data.items() if name != "version"}
        if not changes.get("forecast_category"):
            changes.pop("forecast_category", None)  # a client that does not send it keeps the current one
        return changes


class DealCreateForm(DealFieldsMixin):
    stage = forms.ModelChoiceField(label=_("Stage"), queryset=Stage.objects.none(), empty_label=None)
    new_organization = forms.CharField(
        label=_("…or a new company"), required=False, max_length=200,
        help_text=_("Creates a new lead with this name."),
    )

    field_order = ["title", "organization", "new_organization", "stage", "amount", "currency", "expected_close", "probability",
                   "next_step", "owner"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["stage"].queryset = (
            Stage.objects.filter(pipeline__in=selectors.visible_pipelines(user))
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline__pk", "position", "pk")
        )
        self.fields["stage"].label_from_instance = lambda s: f"{s.pipeline} · {s}"
        self.fields["owner"].initial = user.pk

    def clean(self):
        data = super().clean()
        if not data.get("organization") and not (data.get("new_organization") or "").strip():
            self.add_error("organization", _("Choose a lead or name a new company."))
        if data.get("organization") and (data.get("new_organization") or "").strip():
            self.add_error("new_organization", _("Choose a lead or name a new company, not both."))
        return data


# --- Organisations -----------------------------------------------------------------------------------


class OrganizationForm(forms.ModelForm):
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    # The main contact, a person at the organisation (created when it has none yet).
    contact_name = forms.CharField(label=_("Contact person"), max_length=200, required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=50, required=False)

    class Meta:
        model = Organization
        fields = [
            "name", "industry", "company_size", "country", "website", "domains", "phone", "street", "postal_code",
            "city", "source", "owner",
        ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        owners = selectors.assignable_users(user)
        if self.instance.owner_id:
            owners = owners | get_user_model().objects.filter(pk=self.instance.owner_id)
        self.fields["owner"].queryset = owners.distinct().order_by("first_name", "last_name", "username")
        self.fields["name"].error_messages["required"] = _("Name the company.")
        self.fields["country"].error_messages["max_length"] = _("Use a two-letter country code such as DE.")
        if not self.instance.pk:
            self.fields["owner"].initial = user.pk
        elif self.instance.main_contact_id:
            for name in ("contact_name", "contact_email", "contact_phone"):
                self.fields[name].initial = getattr(self.instance, name)

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError(_("Use a two-letter country code such as DE."))
        return country
