"""Serializers validate what clients send; the services in pipeline.services apply it."""
import re
import threading
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from activities.models import Activity, ActivityKind, Note
from offers import selectors as offer_selectors
from offers.models import OFFER_TEXT_MAX_LENGTH, Offer, OfferLine, OfferPackage, OfferVersion, PriceList, Product, Unit
from offers.totals import line_net, totals_for
from pipeline import selectors, services
from pipeline.exceptions import PipelineError
from pipeline.models import (
    ContactRole, Deal, DealChange, DealContact, EmailKind, ForecastCategory, LostReason, Organization, Person, PhoneKind, Pipeline, Stage,
    StageChange,
)
from pipeline.people import EmailValue, PhoneValue

User = get_user_model()


# --- Errors (documentation only) -------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: a message and a code."""

    detail = serializers.CharField(help_text=_("A message that can be shown to the user."))
    code = serializers.CharField(help_text=_("A stable, machine-readable code, e.g. not_found, requirements."))


class ValidationErrorSerializer(ErrorSerializer):
    """`detail` and `code`, plus one list of messages per invalid field, keyed by the field's name
    (as Django REST framework reports them); `non_field_errors` for the rest."""


# --- Configuration -----------------------------------------------------------------------


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "pipeline", "name", "position", "probability", "kind", "rotting_days", "colour", "guidance"]


class PipelineStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "position", "probability", "kind", "rotting_days", "colour"]


class PipelineSerializer(serializers.ModelSerializer):
    stages = PipelineStageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "position", "is_default", "is_active", "stages"]


class LostReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = LostReason
        fields = ["id", "name", "position", "is_active"]


class UserSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "first_name", "last_name", "role", "team"]

    def get_name(self, obj) -> str:
        return str(obj)


# --- Leads -----------------------------------------------------------------------------------


class UserScopedField(serializers.PrimaryKeyRelatedField):
    """A primary key limited to what the requesting user may choose (a selector of theirs)."""

    def __init__(self, *, scope, **kwargs):
        self.scope = scope
        kwargs.setdefault("queryset", User.objects.none())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.queryset.none()
        return self.scope(user)


class CustomFieldsField(serializers.Field):
    """The admin-defined fields of one kind of record, {key: value}; the schema describes each
    defined field (api.schema). A write sends only the fields that change (null clears one); the
    values are checked by pipeline.custom_fields, whose refusals answer 400 under
    `custom_fields`, by key."""

    def __init__(self, *, kind: str, **kwargs):
        self.kind = kind
        kwargs.setdefault("source", "custom")
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("The custom fields an admin defined, by key; a write sends those that change, null clears one."))
        super().__init__(**kwargs)

    default_error_messages = {"invalid": _("Send an object of custom field keys and values.")}

    def to_representation(self, value):
        return dict(value or {})

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        return dict(data)


class OrganizationSerializer(serializers.ModelSerializer):
    owner = UserScopedField(
        scope=selectors.assignable_users, required=False, allow_null=True,
        help_text=_("Default: you. Reps can only choose themselves."),
    )
    main_contact = UserScopedField(
        scope=selectors.visible_persons, queryset=Person.objects.none(), required=False, allow_null=True,
        help_text=_("A person at this organisation (see /api/v1/people/?organization=…): who Stageflow addresses "
                    "when a deal names no contact of its own."),
    )

    # The main contact (a person at the organisation): read from it, and written to it (created
    # when the organisation has none) by the organisation service.
    contact_name = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text=_("The main contact's name."))
    contact_email = serializers.EmailField(required=False, allow_blank=True, help_text=_("The main contact's e-mail."))
    contact_phone = serializers.CharField(required=False, allow_blank=True, max_length=50, help_text=_("The main contact's phone."))
    custom_fields = CustomFieldsField(kind="organization")

    class Meta:
        model = Organization
        fields = [
            "id", "name", "domains", "industry", "company_size", "country", "street", "postal_code", "city",
            "website", "phone", "source", "main_contact", "contact_name", "contact_email", "contact_phone", "owner",
            "fit_score", "customer_since", "created_at", "updated_at", "custom_fields",
        ]
        read_only_fields = ["fit_score", "customer_since", "created_at", "updated_at"]

    def validate_main_contact(self, person):
        if person is not None and (self.instance is None or person.organization_id != self.instance.pk):
            raise serializers.ValidationError(_("Choose a person who works at this organisation."), code="invalid")
        return person

    def validate_country(self, value):
        value = value.upper()
        # ASCII letters only: some letters grow when upper-cased (“ﬃ” → “FFI”), past the column's size.
        if value and not re.fullmatch(r"[A-Z]{2}", value):
            raise serializers.ValidationError(_("Use a two-letter country code such as DE."), code="invalid")
        return value


# --- Deals ------------------------------------------------------------------------------------


class DealSerializer(serializers.ModelSerializer):
    """A deal as clients read it. Needs select_related("stage", "lead", "owner")."""

    stage_name = serializers.CharField(source="stage.name", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)
    owner_name = serializers.SerializerMethodField()
    effective_probability = serializers.IntegerField(read_only=True)
    custom_fields = CustomFieldsField(kind="deal", read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id", "title", "pipeline", "stage", "stage_name", "status", "organization", "organization_name", "owner", "owner_name",
            "amount", "currency", "expected_close", "probability", "effective_probability", "next_step",
            "forecast_category", "lost_reason", "lost_note", "stage_entered_at", "closed_at", "created_at", "updated_at",
            "external_id", "version", "custom_fields",
        ]
        read_only_fields = fields

    def get_owner_name(self, obj) -> str:
        return str(obj.owner)


_per_thread = threading.local()


def deal_data(deal: Deal) -> dict:
    """What DealSerializer(deal).data gives, with the serializer's fields built once per thread:
    building them (a ModelSerializer derives them from the model on every instance) costs about
    15 times writing one deal. None of its fields reads the request or the context."""
    serializer = getattr(_per_thread, "deal_serializer", None)
    if serializer is None:
        serializer = _per_thread.deal_serializer = DealSerializer()
    return serializer.to_representation(deal)


class ConflictSerializer(ErrorSerializer):
    """A stale `version`: the deal as it is now, to show the user and retry with its version."""

    deal = DealSerializer(read_only=True)


class AmountField(serializers.DecimalField):
    """An amount, or null for none. An empty string is refused: it is more likely a form left
    blank by mistake than a request to clear the amount."""

    default_error_messages = {"blank": _("Send a number, or null for no amount.")}

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            self.fail("blank")
        return super().validate_empty_values(data)


class RefusesUnacceptedFieldsMixin:
    """Answer 400 naming every field of the request this endpoint does not accept, instead of
    ignoring it: a client that sends `status` or `stage` with a change of fields would otherwise
    believe they were applied."""

    # Where a deal's read-only field is changed instead.
    WHERE_INSTEAD = {
        "stage": _("The stage changes only by a move (POST …/move/)."),
        "status": _("The status changes only by a move into a won stage, …/lose/ or …/reopen/."),
        "pipeline": _("A deal stays in its pipeline."),
        "lost_reason": _("The lost reason is given when the deal is marked lost (POST …/lose/)."),
    }

    def read_only_names(self) -> set[str]:
        """Fields clients read but may not send: the deal's, for the deal's write serializers, and
        this serializer's own read-only fields."""
        return set(DealSerializer.Meta.fields) | {name for name, field in self.fields.items() if field.read_only}

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            accepted = {name for name, field in self.fields.items() if not field.read_only}
            readable = self.read_only_names()
            refused = {}
            for name in sorted(set(data.keys()) - accepted - {"csrfmiddlewaretoken"}):
                if name in readable:
                    refused[name] = [self.WHERE_INSTEAD.get(name, _("This field cannot be changed here."))]
                else:
                    refused[name] = [_("Unknown field.")]
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)


class DealWriteFields(RefusesUnacceptedFieldsMixin, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    organization = UserScopedField(scope=selectors.visible_organizations, queryset=Organization.objects.none())
    owner = UserScopedField(
        scope=selectors.assignable_users, required=False,
        help_text=_("Default: you. Reps can only choose themselves; managers their team; admins anyone."),
    )
    amount = AmountField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)
    currency = serializers.CharField(
        max_length=3, required=False, help_text=_("ISO 4217 code, one of the installation's currencies, e.g. EUR.")
    )
    expected_close = serializers.DateField(required=False, allow_null=True)
    probability = serializers.IntegerField(
        min_value=0, max_value=100, required=False, allow_null=True,
        help_text=_("Overrides the stage's probability; empty uses the stage's."),
    )
    next_step = serializers.CharField(max_length=200, required=False, allow_blank=True)
    custom_fields = CustomFieldsField(kind="deal")

    def validate_currency(self, value):
        # The rule lives in the service; a deal may keep a currency that left the list since.
        deal = self.context.get("deal")
        try:
            return services.currency_clean(value, current=deal.currency if deal else None)
        except PipelineError as error:
            raise serializers.ValidationError(str(error.message), code="invalid") from error


class DealCreateSerializer(DealWriteFields):
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.filter(is_active=True), required=False,
        help_text=_("Default: the default pipeline."),
    )
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.all(), required=False, help_text=_("Default: the pipeline's first stage.")
    )
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate(self, attrs):
        stage, pipeline = attrs.get("stage"), attrs.get("pipeline")
        if stage and pipeline and stage.pipeline_id != pipeline.pk:
            raise serializers.ValidationError({"stage": [_("This stage belongs to another pipeline.")]})
        return attrs


class DealUpdateSerializer(DealWriteFields):
    forecast_category = serializers.ChoiceField(
        choices=ForecastCategory.choices, required=False,
        help_text=_("The rep's own call, summed separately in forecasts: commit, best case, pipeline or omitted."),
    )
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text=_("The version you last read."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "version":
                field.required = False
        self.fields["title"].allow_blank = False


class StageIdField(serializers.PrimaryKeyRelatedField):
    """A stage's id, checked for its form only. The move reads the stage together with the deal
    (one query instead of two) and says itself when there is no such stage."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if isinstance(data, float) and pk != data:
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= pk < 2**63:
            self.fail("does_not_exist", pk_value=data)
        return pk

    def does_not_exist(self, pk) -> serializers.ValidationError:
        """The field's own message for an id that names no stage."""
        return serializers.ValidationError({self.field_name: [self.error_messages["does_not_exist"].format(pk_value=pk)]})


class DealMoveSerializer(RefusesUnacceptedFieldsMixin, serializers.Serializer):
    stage = StageIdField(queryset=Stage.objects.all())
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text=_("The version you last read."))


class DealLoseSerializer(RefusesUnacceptedFieldsMixin, serializers.Serializer):
    reason = serializers.PrimaryKeyRelatedField(queryset=LostReason.objects.all())
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class DealReopenSerializer(RefusesUnacceptedFieldsMixin, serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class StageChangeSerializer(serializers.ModelSerializer):
    actor_display = serializers.CharField(read_only=True)
    seconds_in_previous = serializers.SerializerMethodField()

    class Meta:
        model = StageChange
        fields = [
            "id", "at", "from_stage", "to_stage", "from_status", "to_status", "actor", "actor_display",
            "seconds_in_previous", "lost_reason",
        ]

    def get_seconds_in_previous(self, obj) -> int | None:
        return int(obj.time_in_previous.total_seconds()) if obj.time_in_previous is not None else None


class DealChangeSerializer(serializers.ModelSerializer):
    actor_display = serializers.CharField(read_only=True)

    class Meta:
        model = DealChange
        fields = ["id", "at", "field", "old_value", "new_value", "actor", "actor_display"]


class DealHistorySerializer(serializers.Serializer):
    stage_changes = StageChangeSerializer(many=True)
    deal_changes = DealChangeSerializer(many=True)


# --- People ------------------------------------------------------------------------------------


class RefusesUnknownFieldsMixin(RefusesUnacceptedFieldsMixin):
    """The same refusal for the records beside deals: a field the client may only read is named
    as such, anything else is unknown."""

    WHERE_INSTEAD: dict = {}

    def read_only_names(self) -> set[str]:
        return {name for name, field in self.fields.items() if field.read_only}


class PersonEmailSerializer(serializers.Serializer):
    address = serializers.EmailField(max_length=254)
    kind = serializers.ChoiceField(choices=EmailKind.choices, default=EmailKind.WORK)


class PersonPhoneSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=50)
    kind = serializers.ChoiceField(choices=PhoneKind.choices, default=PhoneKind.WORK)


class PersonSerializer(RefusesUnknownFieldsMixin, serializers.ModelSerializer):
    """A person with their e-mail addresses and phone numbers. Needs select_related("organization")
    and prefetch_related("emails", "phones")."""

    WHERE_INSTEAD = {
        "email": _("The first of `emails`: send `emails`, every address with its kind."),
        "phone": _("The first of `phones`: send `phones`, every number with its kind."),
    }

    organization = UserScopedField(
        scope=selectors.visible_organizations, queryset=Organization.objects.none(), required=False, allow_null=True,
        help_text=_("The organisation the person works at, one you may see; empty for none."),
    )
    organization_name = serializers.CharField(source="organization.name", read_only=True, allow_null=True, default=None)
    emails = PersonEmailSerializer(
        many=True, required=False,
        help_text=_("Every e-mail address with its kind, the main one first. Sending the list replaces the addresses."),
    )
    phones = PersonPhoneSerializer(
        many=True, required=False,
        help_text=_("Every phone number with its kind, the main one first. Sending the list replaces the numbers."),
    )
    owner = UserScopedField(
        scope=selectors.assignable_users, required=False, allow_null=True,
        help_text=_("Default: you. Reps can only choose themselves."),
    )
    custom_fields = CustomFieldsField(kind="person")

    class Meta:
        model = Person
        fields = [
            "id", "name", "organization", "organization_name", "job_title", "email", "phone", "emails", "phones",
            "owner", "language", "consent", "consent_source", "consent_at", "created_at", "updated_at", "erased_at",
            "custom_fields",
        ]
        read_only_fields = ["email", "phone", "created_at", "updated_at", "erased_at"]
        extra_kwargs = {
            "email": {"help_text": _("The first of `emails`.")},
            "phone": {"help_text": _("The first of `phones`.")},
        }

    def service_data(self) -> dict:
        """The validated data as pipeline.people takes it: addresses and numbers as values with a kind."""
        data = dict(self.validated_data)
        if "emails" in data:
            # A partial update (PATCH) applies no defaults, not even inside the list: the kind's is the service's.
            data["emails"] = [EmailValue(e["address"], e.get("kind", EmailKind.WORK)) for e in data["emails"]]
        if "phones" in data:
            data["phones"] = [PhoneValue(p["number"], p.get("kind", PhoneKind.WORK)) for p in data["phones"]]
        return data


# --- Deal contacts ---------------------------------------------------------------------------


class ContactRoleSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField(help_text=_("The name in the language of the request."))

    class Meta:
        model = ContactRole
        fields = ["id", "name", "display_name", "name_translations", "position", "is_active"]

    def get_display_name(self, role) -> str:
        return str(role)


class DealContactSerializer(serializers.ModelSerializer):
    """A person on a deal in a role. Needs select_related("person", "role")."""

    person_name = serializers.CharField(source="person.name", read_only=True)
    job_title = serializers.CharField(source="person.job_title", read_only=True)
    email = serializers.CharField(source="person.email", read_only=True)
    phone = serializers.CharField(source="person.phone", read_only=True)
    organization = serializers.IntegerField(source="person.organization_id", read_only=True, allow_null=True)
    role_name = serializers.SerializerMethodField()

    class Meta:
        model = DealContact
        fields = ["person", "person_name", "job_title", "email", "phone", "organization", "role", "role_name", "created_at"]
        read_only_fields = fields

    def get_role_name(self, contact) -> str | None:
        return str(contact.role) if contact.role_id else None


class DealContactRoleField(serializers.PrimaryKeyRelatedField):
    """A contact role's id, or null for a contact without a role. Whether the role is still in use
    is the service's rule (pipeline.people.deal_contact_add)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", ContactRole.objects.all())
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", _("A contact role's id (see /api/v1/contact-roles/), or null for none."))
        super().__init__(**kwargs)


class DealContactAddSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    person = UserScopedField(
        scope=selectors.visible_persons, queryset=Person.objects.none(),
        help_text=_("A person you may see. Already on the deal: their role changes."),
    )
    role = DealContactRoleField(required=False, default=None)


class DealContactRoleSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    role = DealContactRoleField()


# --- Activities and notes ------------------------------------------------------------------


class SubjectFieldsMixin(serializers.Serializer):
    """What an activity or note is about: one deal, organisation or person the user may see."""

    deal = UserScopedField(
        scope=selectors.visible_deals, queryset=Deal.objects.none(), required=False, allow_null=True,
        help_text=_("Give one of deal, organization and person."),
    )
    organization = UserScopedField(
        scope=selectors.visible_organizations, queryset=Organization.objects.none(), required=False, allow_null=True,
    )
    person = UserScopedField(
        scope=selectors.visible_persons, queryset=Person.objects.none(), required=False, allow_null=True,
    )


class ActivitySerializer(serializers.ModelSerializer):
    """An activity as clients read it. Needs select_related("owner")."""

    owner_name = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField(help_text=_("Done, or closed without being done (cancelled)."))
    is_overdue = serializers.BooleanField(read_only=True)
    custom_fields = CustomFieldsField(kind="activity", read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id", "kind", "title", "note", "due_at", "owner", "owner_name", "deal", "organization", "person", "done",
            "done_at", "done_by", "cancelled", "is_overdue", "created_at", "created_by", "custom_fields",
        ]
        read_only_fields = fields

    def get_owner_name(self, activity) -> str:
        return str(activity.owner)

    def get_done(self, activity) -> bool:
        return activity.done_at is not None


class ActivityCreateSerializer(RefusesUnknownFieldsMixin, SubjectFieldsMixin):
    kind = serializers.ChoiceField(choices=ActivityKind.choices, default=ActivityKind.CALL)
    title = serializers.CharField(max_length=200)
    due_at = serializers.DateTimeField(help_text=_("When it is due (ISO 8601; without a time zone, the installation's)."))
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    owner = UserScopedField(
        scope=selectors.assignable_users, required=False,
        help_text=_("Default: you. Reps can only choose themselves; managers their team; admins anyone."),
    )
    custom_fields = CustomFieldsField(kind="activity")


class ActivityOwnerField(UserScopedField):
    """An assignable user, or the activity's owner as it is (a manager's activity may stay theirs)."""

    def get_queryset(self):
        queryset = super().get_queryset()
        current = getattr(self.parent.instance, "owner_id", None)
        if current is not None:
            queryset = (queryset | User.objects.filter(pk=current)).distinct()
        return queryset


class ActivityUpdateSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityKind.choices, required=False)
    title = serializers.CharField(max_length=200, required=False)
    due_at = serializers.DateTimeField(required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    owner = ActivityOwnerField(scope=selectors.assignable_users, required=False)
    done = serializers.BooleanField(
        required=False, help_text=_("true marks the activity done (by you, now); false opens it again."),
    )
    custom_fields = CustomFieldsField(kind="activity")


class NoteSerializer(serializers.ModelSerializer):
    """A note as clients read it. Needs select_related("author")."""

    author_name = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = ["id", "body", "deal", "organization", "person", "author", "author_name", "created_at"]
        read_only_fields = fields
        extra_kwargs = {
            "body": {"help_text": _("As typed, in a light markup (**bold**, *italic*, lists, links): escape it before "
                                    "showing it as HTML.")},
        }

    def get_author_name(self, note) -> str | None:
        return str(note.author) if note.author_id else None


class NoteCreateSerializer(RefusesUnknownFieldsMixin, SubjectFieldsMixin):
    body = serializers.CharField(max_length=20_000)


# --- Products and offers -------------------------------------------------------------------


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "sku", "description", "unit", "list_price", "currency", "tax_rate", "is_active"]


class TaxGroupSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    net = serializers.DecimalField(max_digits=16, decimal_places=2)
    tax = serializers.DecimalField(max_digits=16, decimal_places=2)


class TotalsSerializer(serializers.Serializer):
    """Computed as on the offer's page and PDF (offers.totals): tax once per rate, rounded half-up."""

    list_amount = serializers.DecimalField(max_digits=16, decimal_places=2, help_text=_("Before discounts."))
    net = serializers.DecimalField(max_digits=16, decimal_places=2)
    tax = serializers.DecimalField(max_digits=16, decimal_places=2)
    gross = serializers.DecimalField(max_digits=16, decimal_places=2)
    tax_groups = TaxGroupSerializer(many=True)


class LineNetField(serializers.DecimalField):
    """Quantity × unit price less the discount, rounded to the cent (offers.totals.line_net)."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=16, decimal_places=2, read_only=True, **kwargs)

    def get_attribute(self, line):
        return line_net(line.quantity, line.unit_price, line.discount_percent)


class OfferLineSerializer(serializers.ModelSerializer):
    net = LineNetField(help_text=_("Quantity × unit price less the discount, rounded to the cent."))

    class Meta:
        model = OfferLine
        fields = [
            "id", "package", "product", "description", "quantity", "unit", "unit_price", "discount_percent", "tax_rate",
            "position", "net",
        ]
        read_only_fields = fields


class OfferPackageSerializer(serializers.ModelSerializer):
    totals = serializers.SerializerMethodField(help_text=_("The lines common to every package and this package's own."))

    class Meta:
        model = OfferPackage
        fields = ["id", "name", "description", "position", "is_recommended", "totals"]
        read_only_fields = fields

    @extend_schema_field(TotalsSerializer)
    def get_totals(self, package):
        lines = [line for line in package.version.lines.all() if line.package_id in (None, package.pk)]
        return TotalsSerializer(totals_for(lines)).data


class OfferVersionSerializer(serializers.ModelSerializer):
    """A version with its packages, lines and totals. Needs prefetch_related("packages", "lines")."""

    packages = OfferPackageSerializer(many=True, read_only=True)
    lines = OfferLineSerializer(many=True, read_only=True)
    totals = serializers.SerializerMethodField(help_text=_("Of all lines; null when the customer chooses a package."))

    class Meta:
        model = OfferVersion
        fields = [
            "id", "number", "status", "language", "currency", "situation", "benefit", "terms", "valid_until",
            "approved_discount", "approved_at", "sent_at", "closed_at", "created_at", "updated_at", "packages", "lines",
            "totals",
        ]
        read_only_fields = fields

    @extend_schema_field(TotalsSerializer(allow_null=True))
    def get_totals(self, version):
        if version.packages.all():
            return None
        return TotalsSerializer(totals_for(version.lines.all())).data


class OfferSerializer(serializers.ModelSerializer):
    """An offer with its versions, newest first."""

    number = serializers.CharField(read_only=True, help_text=_("E.g. OF-00042."))
    versions = OfferVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Offer
        fields = ["id", "number", "deal", "title", "price_list", "created_by", "created_at", "versions"]
        read_only_fields = fields


class OfferCreateSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    deal = UserScopedField(scope=selectors.visible_deals, queryset=Deal.objects.none(), help_text=_("A deal you may change."))
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text=_("Default: the deal's title."))
    price_list = serializers.PrimaryKeyRelatedField(queryset=PriceList.objects.filter(is_active=True), required=False,
                                                    allow_null=True)
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES, required=False, help_text=_("Default: German for German-speaking countries, else English."),
    )


class OfferTextsSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    situation = serializers.CharField(max_length=OFFER_TEXT_MAX_LENGTH, required=False, allow_blank=True)
    benefit = serializers.CharField(max_length=OFFER_TEXT_MAX_LENGTH, required=False, allow_blank=True)
    terms = serializers.CharField(max_length=OFFER_TEXT_MAX_LENGTH, required=False, allow_blank=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)


def visible_packages(user):
    return OfferPackage.objects.filter(version__in=offer_selectors.visible_versions(user))


class OfferLineAddSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(), required=False, allow_null=True,
        help_text=_("Its name, unit, price (the price list's first) and tax rate are the defaults."),
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0"), required=False,
                                        default=Decimal("1"))
    unit = serializers.ChoiceField(choices=Unit.choices, required=False)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False,
                                          allow_null=True)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal("0"),
                                                max_value=Decimal("100"), required=False, default=Decimal("0"))
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("100"),
                                        required=False, allow_null=True)
    package = UserScopedField(
        scope=visible_packages, queryset=OfferPackage.objects.none(), required=False, allow_null=True,
        help_text=_("A package of this version; empty: part of every package."),
    )


# --- Forecast ----------------------------------------------------------------------------------


class ForecastQuerySerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["weighted", "learned", "montecarlo"], default="weighted")
    period = serializers.ChoiceField(choices=["month", "quarter"], default="month")
    as_of = serializers.DateField(required=False, help_text=_("Default: today. Not in the future."))
    horizon = serializers.IntegerField(min_value=1, max_value=24, default=3, help_text=_("Number of periods."))
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.filter(is_active=True), required=False, help_text=_("Default: the default pipeline.")
    )


class ForecastAmountSerializer(serializers.Serializer):
    currency = serializers.CharField()
    won = serializers.DecimalField(max_digits=20, decimal_places=2, help_text=_("Won so far in the period."))
    expected = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text=_("Won so far plus what the open deals are expected to bring.")
    )
    p10 = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text=_("Nine in ten futures bring at least this much (P10).")
    )
    p50 = serializers.DecimalField(max_digits=20, decimal_places=2)
    p90 = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text=_("One in ten futures brings this much or more (P90).")
    )


class ForecastPeriodSerializer(serializers.Serializer):
    period = serializers.CharField(help_text=_("2026-11 for a month, 2026-Q4 for a quarter."))
    start = serializers.DateField()
    end = serializers.DateField()
    amounts = ForecastAmountSerializer(many=True)
    in_reporting_currency = ForecastAmountSerializer(
        allow_null=True,
        help_text=_("The forecast with every deal converted into the reporting currency: open deals at the rate "
                    "of the as-of day, won deals at the rate of the day they were won."),
    )


class MissingRateSerializer(serializers.Serializer):
    currency = serializers.CharField()
    first = serializers.DateField(allow_null=True, help_text=_("The first day a rate was missing for."))
    last = serializers.DateField(allow_null=True)
    budget = serializers.BooleanField(help_text=_("A budget rate of the year was missing."))
    count = serializers.IntegerField(help_text=_("Deals left out of the converted figures."))
    amount = serializers.DecimalField(max_digits=20, decimal_places=3, help_text=_("Their amount, in that currency."))


class ForecastConversionSerializer(serializers.Serializer):
    basis = serializers.ChoiceField(choices=["today", "budget"], help_text=_("How open deals were converted."))
    rates = serializers.DictField(
        child=serializers.CharField(allow_null=True), help_text=_("The rate of each currency's open deals.")
    )
    missing_rates = MissingRateSerializer(many=True)


class ForecastSerializer(serializers.Serializer):
    method = serializers.CharField()
    period = serializers.CharField()
    as_of = serializers.DateField()
    pipeline = serializers.IntegerField()
    periods = ForecastPeriodSerializer(many=True)
    reporting_currency = serializers.CharField()
    conversion = ForecastConversionSerializer()
