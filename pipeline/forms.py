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

from . import custom_fields, selectors
from .models import Consent, CustomField, FieldType, ContactRole, EmailKind, ForecastCategory, LostReason, Organization, Person, PhoneKind, Stage


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _currency_choices(current: str | None = None) -> list[tuple[str, str]]:
    codes = list(settings.STAGEFLOW["CURRENCIES"])
    if current and current not in codes:
        codes.append(current)
    return [(code, code) for code in codes]


# --- Custom fields ---------------------------------------------------------------------------


CUSTOM_PREFIX = "cf_"


class CustomFieldsMixin:
    """Adds the admin-defined fields of `custom_kind` to a form (as `cf_<key>`). The values are
    checked by pipeline.custom_fields (the one home of those rules) in `clean`, each refusal shown
    next to its field; `custom_values()` gives what the services take, {key: value} for every
    field (an empty one clears it)."""

    custom_kind = ""

    def custom_fields_init(self, *, user, record=None, fields=None) -> None:
        self.custom_definitions = custom_fields.definitions(self.custom_kind) if fields is None else fields
        self.custom_creating = record is None or record.pk is None
        values = (record.custom or {}) if record is not None else {}
        for definition in self.custom_definitions:
            name = CUSTOM_PREFIX + definition.key
            self.fields[name] = custom_form_field(definition, user=user, current=values.get(definition.key))
            if not self.is_bound and definition.key in values:
                value = values[definition.key]
                self.initial[name] = {True: "true", False: "false"}.get(value, value) if definition.field_type == FieldType.BOOLEAN else value

    def custom_bound_fields(self):
        return [self[CUSTOM_PREFIX + d.key] for d in getattr(self, "custom_definitions", [])]

    def custom_values(self) -> dict:
        return {
            d.key: self.cleaned_data.get(CUSTOM_PREFIX + d.key)
            for d in getattr(self, "custom_definitions", [])
            if CUSTOM_PREFIX + d.key in self.cleaned_data
        }

    def clean(self):
        data = super().clean()
        definitions = getattr(self, "custom_definitions", [])
        if definitions:
            values = {
                d.key: data[CUSTOM_PREFIX + d.key] for d in definitions
                if CUSTOM_PREFIX + d.key in data and CUSTOM_PREFIX + d.key not in self.errors
            }
            try:
                custom_fields.values_clean(
                    kind=self.custom_kind, values=values, creating=self.custom_creating, fields=definitions,
                )
            except custom_fields.CustomFieldsInvalid as invalid:
                for key, message in invalid.errors.items():
                    if CUSTOM_PREFIX + key in self.fields and CUSTOM_PREFIX + key not in self.errors:
                        self.add_error(CUSTOM_PREFIX + key, message)
        return data


def custom_form_field(definition: CustomField, *, user, current=None) -> forms.Field:
    """The form field of one custom field. Whether a value is required is decided by the service;
    the field only says so to the browser and to screen readers."""
    kind = definition.field_type
    common = {"label": str(definition), "required": False, "help_text": definition.help_text}
    if kind == FieldType.LONG_TEXT:
        field = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=custom_fields.MAX_LONG_TEXT, **common)
    elif kind in (FieldType.NUMBER, FieldType.MONEY):
        field = forms.DecimalField(decimal_places=2 if kind == FieldType.MONEY else None, **common)
        if kind == FieldType.MONEY:
            field.help_text = definition.help_text or (definition.currency or settings.STAGEFLOW["DEFAULT_CURRENCY"])
    elif kind == FieldType.DATE:
        field = forms.DateField(widget=DateInput(), **common)
    elif kind == FieldType.BOOLEAN:
        field = forms.ChoiceField(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))], **common)
    elif kind == FieldType.CHOICE:
        field = forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in definition.choices]], **common)
    elif kind == FieldType.MULTI_CHOICE:
        field = forms.MultipleChoiceField(
            choices=[(c, c) for c in definition.choices], widget=forms.CheckboxSelectMultiple, **common
        )
    elif kind == FieldType.USER:
        users = selectors.visible_users(user)
        if current:
            users = users | get_user_model().objects.filter(pk=current)
        field = forms.TypedChoiceField(
            coerce=int, empty_value=None,
            choices=[("", "—"), *[(u.pk, str(u)) for u in users.distinct().order_by("first_name", "last_name", "username")]],
            **common,
        )
    elif kind == FieldType.URL:
        field = forms.URLField(assume_scheme="https", **common)
    elif kind == FieldType.EMAIL:
        field = forms.EmailField(**common)
    elif kind == FieldType.PHONE:
        field = forms.CharField(max_length=50, widget=forms.TextInput(attrs={"type": "tel"}), **common)
    else:
        field = forms.CharField(max_length=custom_fields.MAX_TEXT, **common)
    if definition.required:
        field.widget.attrs["aria-required"] = "true"
        field.label = f"{field.label} *"
    return field


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

    @staticmethod
    def label_for(obj) -> str:
        return organization_label(obj)

    def prepare_value(self, value):
        if isinstance(value, self.queryset.model):
            return self.label_for(value)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            found = self.queryset.filter(pk=value).first()
            return self.label_for(found) if found else value
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


class PersonLookupInput(OrganizationLookupInput):
    """A person picked by typing their name or e-mail (suggestions from pipeline:person_lookup)."""

    template_name = "pipeline/widgets/person_lookup.html"

    def __init__(self, attrs=None):
        super().__init__(attrs={"placeholder": _("Type a name or an e-mail address"), **(attrs or {})})


def person_label(person: Person) -> str:
    """How a person is written in the lookup field: name, organisation and id."""
    at = f" · {person.organization.name}" if person.organization_id else ""
    return f"{person.name}{at} (#{person.pk})"


class PersonChoiceField(OrganizationChoiceField):
    """A person of the queryset, typed as "Name · Organisation (#id)" or as a name only one has."""

    widget = PersonLookupInput
    default_error_messages = {
        "invalid_choice": _("There is nobody called “%(value)s” whom you can choose; pick someone from the suggestions."),
        "ambiguous": _("Several people are called “%(value)s”; pick one from the suggestions."),
    }

    @staticmethod
    def label_for(obj) -> str:
        return person_label(obj)


class DealFieldsMixin(CustomFieldsMixin, forms.Form):
    """The fields a rep edits on a deal; choice lists follow what the user may see."""

    custom_kind = "deal"

    title = forms.CharField(label=_("Title"), max_length=200, error_messages={"required": _("Give the deal a title.")})
    organization = OrganizationChoiceField(label=_("Organisation"), queryset=Organization.objects.none(), required=False)
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
        self.custom_fields_init(user=user, record=deal)


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
        changes = {
            name: value for name, value in self.cleaned_data.items()
            if name != "version" and not name.startswith(CUSTOM_PREFIX)
        }
        if self.custom_definitions:
            changes["custom"] = self.custom_values()
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


class OrganizationForm(CustomFieldsMixin, forms.ModelForm):
    """A new organisation names its main contact (a person created at it); an existing one picks
    its main contact among its people, who are edited on their own pages."""

    custom_kind = "organization"
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    contact_name = forms.CharField(label=_("Contact person"), max_length=200, required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=50, required=False)

    class Meta:
        model = Organization
        fields = [
            "name", "industry", "company_size", "country", "website", "domains", "phone", "street", "postal_code",
            "city", "source", "owner", "main_contact",
        ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        owners = selectors.assignable_users(user)
        if self.instance.owner_id:
            owners = owners | get_user_model().objects.filter(pk=self.instance.owner_id)
        self.fields["owner"].queryset = owners.distinct().order_by("first_name", "last_name", "username")
        self.fields["name"].error_messages["required"] = _("Name the company.")
        self.fields["country"].error_messages["max_length"] = _("Use a two-letter country code such as DE.")
        self.fields["domains"].help_text = _("Separated by spaces, e.g. example.com example.de. The website's domain is added.")
        if not self.instance.pk:
            self.fields["owner"].initial = user.pk
            del self.fields["main_contact"]
        else:
            for name in ("contact_name", "contact_email", "contact_phone"):
                del self.fields[name]
            field = self.fields["main_contact"]
            people = Person.objects.filter(organization=self.instance, erased_at__isnull=True)
            if self.instance.main_contact_id:  # stays a valid choice wherever they are now
                people = people | Person.objects.filter(pk=self.instance.main_contact_id)
            field.queryset = people.distinct().order_by("name", "pk")
            field.empty_label = _("Nobody")
            field.help_text = _("Who Stageflow addresses when a deal names no contact of its own; one of the people at this organisation.")
            field.error_messages["invalid_choice"] = _("Choose one of the people at this organisation.")
        self.custom_fields_init(user=user, record=self.instance)

    def organization_fields(self, *, changed_only: bool = False) -> dict:
        """The cleaned fields as pipeline.organizations takes them (for an existing organisation
        with `changed_only`, what changed), the custom fields as `custom`."""
        names = self.changed_data if changed_only else list(self.cleaned_data)
        fields = {name: self.cleaned_data[name] for name in names if not name.startswith(CUSTOM_PREFIX)}
        if self.custom_definitions and (not changed_only or any(n.startswith(CUSTOM_PREFIX) for n in names)):
            fields["custom"] = self.custom_values()
        return fields

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError(_("Use a two-letter country code such as DE."))
        return country


# --- People ------------------------------------------------------------------------------------------


class EmailRowForm(forms.Form):
    """One e-mail address of a person and its kind. The address is checked by pipeline.people (the
    one home of that rule); the view puts its refusal next to this row."""

    address = forms.CharField(
        label=_("E-mail"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=EmailKind.choices, initial=EmailKind.WORK,
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class PhoneRowForm(forms.Form):
    number = forms.CharField(
        label=_("Phone"), required=False, max_length=50,
        widget=forms.TextInput(attrs={"class": "form-control", "type": "tel", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=PhoneKind.choices, initial=PhoneKind.WORK,
        widget=forms.Select(attrs={"class": "form-select"}),
    )


# Rows are never deleted one by one: an emptied row is dropped when the person is saved.
EmailFormSet = forms.formset_factory(EmailRowForm, extra=1, max_num=20, absolute_max=20, validate_max=True)
PhoneFormSet = forms.formset_factory(PhoneRowForm, extra=1, max_num=20, absolute_max=20, validate_max=True)


class PersonForm(CustomFieldsMixin, forms.Form):
    """A person's own fields; their e-mail addresses and phone numbers are the two formsets beside it."""

    custom_kind = "person"

    name = forms.CharField(label=_("Name"), max_length=200, error_messages={"required": _("Name the person.")})
    organization = OrganizationChoiceField(label=_("Organisation"), queryset=Organization.objects.none(), required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=200, required=False)
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None, required=False, empty_label=_("Nobody"))
    language = forms.ChoiceField(label=_("Language"), required=False)
    consent = forms.ChoiceField(label=_("Consent to be contacted"), choices=Consent.choices, initial=Consent.UNKNOWN)
    consent_source = forms.CharField(
        label=_("Consent given how"), max_length=200, required=False,
        help_text=_("E.g. the web form, a signed order, a call."),
    )
    consent_at = forms.DateField(
        label=_("Consent given on"), required=False, widget=DateInput(),
        help_text=_("Empty when the consent changes: today."),
    )

    def __init__(self, *args, user, person: Person | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.person = person
        organizations = selectors.visible_organizations(user)
        owners = selectors.assignable_users(user)
        if person is not None:
            if person.organization_id:
                organizations = organizations | Organization.objects.filter(pk=person.organization_id)
            if person.owner_id:
                owners = owners | get_user_model().objects.filter(pk=person.owner_id)
        self.fields["organization"].queryset = organizations.distinct().order_by("name", "pk")
        self.fields["owner"].queryset = owners.distinct().order_by("first_name", "last_name", "username")
        self.fields["owner"].label_from_instance = lambda u: str(u)
        self.fields["language"].choices = [("", _("Not known"))] + list(settings.LANGUAGES)
        if person is None:
            self.fields["owner"].initial = user.pk
        self.custom_fields_init(user=user, record=person)
        for name, field in self.fields.items():
            if name.startswith(CUSTOM_PREFIX):
                continue  # crispy-forms styles them
            field.widget.attrs.setdefault("class", "form-select" if isinstance(field.widget, forms.Select) else "form-control")

    @staticmethod
    def initial_for(person: Person) -> dict:
        from django.utils import timezone

        return {
            "name": person.name, "organization": person.organization_id, "job_title": person.job_title,
            "owner": person.owner_id, "language": person.language, "consent": person.consent,
            "consent_source": person.consent_source,
            "consent_at": timezone.localdate(person.consent_at) if person.consent_at else None,
        }

    def clean(self):
        data = super().clean()
        consent = data.get("consent")
        before = self.person.consent if self.person is not None else Consent.UNKNOWN
        if consent and consent != before and not data.get("consent_at"):
            from django.utils import timezone

            data["consent_at"] = timezone.localdate()
        return data

    def person_fields(self) -> dict:
        """The cleaned fields as pipeline.people takes them (a consent date as the start of that day);
        for an existing person only what changed."""
        from datetime import datetime, time

        from django.utils import timezone

        data = {name: value for name, value in self.cleaned_data.items() if not name.startswith(CUSTOM_PREFIX)}
        if self.custom_definitions:
            data["custom"] = self.custom_values()
        day = data.pop("consent_at")
        fields = {**data, "job_title": data["job_title"].strip(), "consent_source": data["consent_source"].strip()}
        if self.person is None:
            fields["consent_at"] = timezone.make_aware(datetime.combine(day, time.min)) if day else None
            return fields
        current = PersonForm.initial_for(self.person)
        changed = {name: value for name, value in fields.items() if name == "custom" or value != getattr(self.person, name)}
        if day != current["consent_at"]:
            changed["consent_at"] = timezone.make_aware(datetime.combine(day, time.min)) if day else None
        return changed


class PeopleFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name, e-mail or phone")}),
    )
    organization = OrganizationChoiceField(label=_("Organisation"), queryset=Organization.objects.none(), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = selectors.visible_organizations(user).order_by("name", "pk")
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-control form-control-sm")

    def filters(self) -> dict:
        """The valid filters (an unknown organisation is left out, the search still applies)."""
        self.is_valid()
        data = self.cleaned_data
        return {"q": (data.get("q") or "").strip(), "organization": data.get("organization")}


class OrganizationFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Name, domain or city")}),
    )
    kind = forms.ChoiceField(label=_("Show"), required=False)

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds
        self.fields["q"].widget.attrs["class"] = "form-control form-control-sm"
        self.fields["kind"].widget.attrs["class"] = "form-select form-select-sm"

    def filters(self) -> dict:
        self.is_valid()
        data = self.cleaned_data
        return {"q": (data.get("q") or "").strip(), "kind": data.get("kind") or ""}


# --- Contacts on a deal ----------------------------------------------------------------------------------


class RoleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return str(obj)


class DealContactAddForm(forms.Form):
    """Who to put on a deal: someone at the deal's organisation, anyone else the user sees (typed),
    or a new person at the deal's organisation; and their role."""

    person = forms.ModelChoiceField(label=_("At the organisation"), queryset=Person.objects.none(), required=False,
                                    empty_label=_("Choose a person…"))
    other = PersonChoiceField(label=_("…or someone else"), queryset=Person.objects.none(), required=False)
    new_name = forms.CharField(label=_("…or a new person"), max_length=200, required=False,
                               widget=forms.TextInput(attrs={"placeholder": _("Name")}))
    new_email = forms.CharField(label=_("E-mail"), max_length=254, required=False, widget=forms.EmailInput())
    new_phone = forms.CharField(label=_("Phone"), max_length=50, required=False, widget=forms.TextInput(attrs={"type": "tel"}))
    role = RoleChoiceField(label=_("Role"), queryset=ContactRole.objects.none(), required=False, empty_label=_("No particular role"))

    def __init__(self, *args, user, candidates: list[Person], roles: list[ContactRole], **kwargs):
        kwargs.setdefault("prefix", "contact")
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = Person.objects.filter(pk__in=[p.pk for p in candidates]).order_by("name", "pk")
        self.fields["person"].choices = [("", _("Choose a person…"))] + [
            (p.pk, f"{p.name} · {p.job_title}" if p.job_title else p.name) for p in candidates
        ]
        self.fields["other"].queryset = selectors.visible_persons(user).filter(erased_at__isnull=True).select_related("organization")
        self.fields["role"].queryset = ContactRole.objects.filter(is_active=True).order_by("position", "pk")
        self.fields["role"].choices = [("", _("No particular role"))] + [(r.pk, str(r)) for r in roles]
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-select" if isinstance(field.widget, forms.Select) else "form-control")

    def clean(self):
        data = super().clean()
        if not data.get("new_name") and (data.get("new_email") or data.get("new_phone")):
            self.add_error("new_name", _("Name the new person."))
            return data
        chosen = [name for name in ("person", "other", "new_name") if data.get(name)]
        if not chosen and not self.errors:
            raise forms.ValidationError(_("Choose a person, type someone's name, or name a new person."), code="none")
        if len(chosen) > 1:
            raise forms.ValidationError(_("Choose one person: from the list, typed, or new."), code="several")
        return data


class DealContactRoleForm(forms.Form):
    role = RoleChoiceField(label=_("Role"), queryset=ContactRole.objects.none(), required=False, empty_label=_("No particular role"))

    def __init__(self, *args, roles: list[ContactRole], current: ContactRole | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        queryset = ContactRole.objects.filter(is_active=True)
        if current is not None:
            queryset = queryset | ContactRole.objects.filter(pk=current.pk)
        self.fields["role"].queryset = queryset
        self.fields["role"].error_messages["invalid_choice"] = _("Choose one of the listed roles.")
