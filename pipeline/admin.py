"""Django admin: where admins configure pipelines, stages, transitions and lost reasons.

Two rules shape this module:

* The admin never assigns `deal.stage` or `deal.status`. A deal's stage and status are read-only
  here; the actions "Move to …", "Mark lost" and "Reopen" call `pipeline.services`, which check
  the transition table and write the history, and report refusals as messages. Field edits go
  through `services.deal_update` (so they are recorded in DealChange), new deals through
  `services.deal_create`.
* Configuration that history points to is never deleted. A stage that holds deals cannot be
  deleted (its deals must be moved first), and neither can a stage that only appears in the
  history: StageChange rows keep their from/to stage forever (PROTECT), and forecasts learn from
  them. Deleting such a stage would mean rewriting history, so the admin refuses and suggests
  renaming it or moving it to the end instead. The same guard applies on the delete page, in the
  pipeline's stage inline and in the bulk delete action. (An "archived" flag that hides a used
  stage from the board would be the next step; it needs the board to honour it.)

Every change to pipelines, stages, transitions and lost reasons made here (including inline rows
and bulk deletes) is written through `pipeline.configuration`, which holds these rules (the API
calls it too) and writes the configuration audit trail (accounts.ConfigChange).
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import configuration, custom_fields, organizations, services
from .exceptions import PipelineError
from .models import (
    ContactRole,
    CustomField,
    Deal,
    DealChange,
    DealContact,
    DealStatus,
    Organization,
    LostReason,
    Pipeline,
    Stage,
    StageChange,
    Transition,
)

MAX_REPORTED_REFUSALS = 10


# --- Writes go through pipeline.configuration -----------------------------------------------------

# model: (create, update, delete, the update's keyword for the object, its fields, the parent's field)
_WRITERS = {
    Pipeline: (configuration.pipeline_create, configuration.pipeline_update, configuration.pipeline_delete,
               "pipeline", configuration.PIPELINE_FIELDS, None),
    Stage: (configuration.stage_create, configuration.stage_update, configuration.stage_delete,
            "stage", configuration.STAGE_FIELDS, "pipeline"),
    Transition: (configuration.transition_create, configuration.transition_update, configuration.transition_delete,
                 "transition", configuration.TRANSITION_FIELDS, "pipeline"),
    LostReason: (configuration.lost_reason_create, configuration.lost_reason_update,
                 configuration.lost_reason_delete, "reason", configuration.LOST_REASON_FIELDS, None),
    ContactRole: (configuration.contact_role_create, configuration.contact_role_update,
                  configuration.contact_role_delete, "role", configuration.CONTACT_ROLE_FIELDS, None),
    CustomField: (custom_fields.custom_field_create, custom_fields.custom_field_update, custom_fields.custom_field_delete,
                  "field", custom_fields.CUSTOM_FIELD_FIELDS, None),
}


def _configuration_save(obj, *, actor) -> None:
    """Write the admin's edited (unsaved) object through its service; `obj` then holds what was
    stored, as after Django's own save."""
    create, update, _delete, key, fields, parent = _WRITERS[type(obj)]
    values = {name: getattr(obj, name) for name in fields}
    if parent:
        values[parent] = getattr(obj, parent)
    saved = update(**{key: obj.pk}, actor=actor, **values) if obj.pk else create(actor=actor, **values)
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding, obj._state.db = False, saved._state.db


def _configuration_delete(obj, *, actor) -> None:
    _create, _update, delete, key, _fields, _parent = _WRITERS[type(obj)]
    delete(**{key: obj.pk}, actor=actor)


def _refusal_text(refusal) -> str | None:
    return str(refusal.message) if refusal else None


def stage_delete_refusal(stage: Stage) -> str | None:
    return _refusal_text(configuration.stage_delete_refusal(stage))


def pipeline_delete_refusal(pipeline: Pipeline) -> str | None:
    return _refusal_text(configuration.pipeline_delete_refusal(pipeline))


def lost_reason_delete_refusal(reason: LostReason) -> str | None:
    return _refusal_text(configuration.lost_reason_delete_refusal(reason))


def contact_role_delete_refusal(role: ContactRole) -> str | None:
    return _refusal_text(configuration.contact_role_delete_refusal(role))


class ConfigurationAdminMixin:
    """Saves, deletes and inline rows go through pipeline.configuration, which checks the rules
    and writes the audit trail; the admin only shows the refusals."""

    def save_model(self, request, obj, form, change):
        _configuration_save(obj, actor=request.user)

    def delete_model(self, request, obj):
        _configuration_delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset.order_by("pk"):
                _configuration_delete(obj, actor=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model not in _WRITERS:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # fills new, changed and deleted objects; writes nothing
        for obj in formset.deleted_objects:
            _configuration_delete(obj, actor=request.user)
        for obj, _changed in formset.changed_objects:
            _configuration_save(obj, actor=request.user)
        for obj in formset.new_objects:
            _configuration_save(obj, actor=request.user)


class GuardedDeleteMixin:
    """Refuse deletes with a clear message on the delete page and in the bulk delete action,
    instead of Django's list of protected objects or a cascade."""

    def delete_refusal(self, obj) -> str | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            refusal = self.delete_refusal(obj)
            if refusal:
                self.message_user(request, refusal, messages.ERROR)
                opts = self.opts
                return HttpResponseRedirect(
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk],
                            current_app=self.admin_site.name)
                )
        return super().delete_view(request, object_id, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, description = actions["delete_selected"]
            # Same name, so that Django's confirmation page posts back to this guarded action.
            actions["delete_selected"] = (self._guarded_delete_selected, name, description)
        return actions

    @staticmethod
    def _guarded_delete_selected(modeladmin, request, queryset):
        refusals = [r for r in (modeladmin.delete_refusal(obj) for obj in queryset) if r]
        if refusals:
            for refusal in refusals[:MAX_REPORTED_REFUSALS]:
                modeladmin.message_user(request, refusal, messages.ERROR)
            modeladmin.message_user(request, gettext("Nothing was deleted."), messages.WARNING)
            return None
        return django_delete_selected(modeladmin, request, queryset)


# --- Pipelines, stages, transitions ---------------------------------------------------------------


class StageForm(forms.ModelForm):
    class Meta:
        model = Stage
        fields = (
            "pipeline", "name", "name_translations", "position", "probability", "kind", "rotting_days", "colour",
            "guidance",
        )
        # Narrow inputs: the stages are edited as rows of the pipeline page, which must fit a
        # 1440 px screen beside the admin's navigation.
        widgets = {
            "name": forms.TextInput(attrs={"size": 13}),
            "colour": forms.TextInput(attrs={"type": "color"}),
            "guidance": forms.Textarea(attrs={"rows": 2, "cols": 30}),
            "name_translations": forms.Textarea(attrs={"rows": 2, "cols": 40}),
        }

    def clean(self):
        cleaned = super().clean()
        stage = self.instance
        if stage.pk and "kind" in self.changed_data:
            refusal = configuration.stage_kind_refusal(stage, cleaned.get("kind"))
            if refusal:
                raise ValidationError(str(refusal.message))
        return cleaned


class StageInlineFormSet(BaseInlineFormSet):
    def clean(self):
        # Before Django's own check, which only lists the protected rows.
        refusals = [
            stage_delete_refusal(form.instance)
            for form in self.forms
            if self.can_delete and form.instance.pk and self._should_delete_form(form)
        ]
        refusals = [r for r in refusals if r]
        if refusals:
            raise ValidationError(refusals)
        super().clean()


class StageInline(admin.TabularInline):
    model = Stage
    form = StageForm
    formset = StageInlineFormSet
    fields = (
        "name", "position", "probability", "kind", "rotting_days", "colour", "guidance", "open_deal_count", "deal_count",
    )
    readonly_fields = ("open_deal_count", "deal_count")
    ordering = ("position", "pk")
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _open=Count("deals", filter=Q(deals__status=DealStatus.OPEN)), _deals=Count("deals")
        )

    @admin.display(description=_("open deals"))
    def open_deal_count(self, obj):
        # What the board shows in the stage's column.
        return getattr(obj, "_open", 0) if obj.pk else ""

    @admin.display(description=_("all deals (won and lost too)"))
    def deal_count(self, obj):
        # Shown so that an admin sees which stages can be removed (only those without deals or history).
        return getattr(obj, "_deals", 0) if obj.pk else ""


class PipelineStageChoiceField(forms.ModelChoiceField):
    """Stages of several pipelines: label each with its pipeline."""

    def label_from_instance(self, obj):
        return f"{obj.pipeline}: {obj.name}"


class TransitionForm(forms.ModelForm):
    """Stage choices limited to one pipeline; from/to must belong to the transition's pipeline."""

    class Meta:
        model = Transition
        fields = ("pipeline", "from_stage", "to_stage", "requires_amount", "requires_expected_close",
                  "requires_contact", "requires_role", "requires_next_step", "min_fit_score", "requires_fields")

    requires_fields = forms.MultipleChoiceField(
        label=_("needs these custom fields"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("Deal fields that must have a value."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "requires_fields" in self.fields:
            fields = CustomField.objects.filter(record_kind="deal").order_by("position", "pk")
            self.fields["requires_fields"].choices = [(f.key, f"{f} ({f.key})") for f in fields]
        if "from_stage" in self.fields:
            self.fields["from_stage"].empty_label = gettext("any stage")
        # A saved transition offers only its own pipeline's stages (the inline narrows new rows too).
        if self.instance.pk:
            for name in ("from_stage", "to_stage"):
                if name in self.fields:
                    self.fields[name].queryset = Stage.objects.filter(
                        pipeline_id=self.instance.pipeline_id
                    ).order_by("position", "pk")

    def clean(self):
        cleaned = super().clean()
        pipeline = cleaned.get("pipeline") or (self.instance.pipeline if self.instance.pipeline_id else None)
        if pipeline is not None:
            refusal = configuration.transition_refusal(
                pipeline=pipeline, from_stage=cleaned.get("from_stage"), to_stage=cleaned.get("to_stage")
            )
            if refusal:
                self.add_error(refusal.field, str(refusal.message))
        return cleaned


class TransitionInline(admin.TabularInline):
    model = Transition
    form = TransitionForm
    # The custom fields a transition needs are chosen on its own page (the change link): a column of
    # checkboxes per field would push the row past a 1440 px screen.
    fields = ("from_stage", "to_stage", "requires_amount", "requires_expected_close", "requires_contact",
              "requires_role", "requires_next_step", "min_fit_score")
    show_change_link = True
    extra = 0
    verbose_name = _("transition and entry rule")
    verbose_name_plural = _("transitions and entry rules (from stage empty: from any stage)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_stage", "to_stage")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        stages = Stage.objects.filter(pipeline=obj).order_by("position", "pk") if obj else Stage.objects.none()
        for name in ("from_stage", "to_stage"):
            formset.form.base_fields[name].queryset = stages
        return formset


@admin.register(Pipeline)
class PipelineAdmin(ConfigurationAdminMixin, GuardedDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "position", "is_default", "is_active", "stage_count", "open_deal_count")
    list_editable = ("position", "is_active")
    search_fields = ("name",)
    inlines = (StageInline, TransitionInline)

    class Media:
        css = {"all": ("css/admin.css",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _stages=Count("stages", distinct=True),
            _open=Count("deals", filter=Q(deals__status=DealStatus.OPEN), distinct=True),
        )

    @admin.display(description=_("stages"), ordering="_stages")
    def stage_count(self, obj):
        return obj._stages

    @admin.display(description=_("open deals"), ordering="_open")
    def open_deal_count(self, obj):
        return obj._open

    def get_inline_instances(self, request, obj=None):
        # Transitions point at stages: they can be set once the pipeline and its stages are saved.
        return [i for i in super().get_inline_instances(request, obj) if obj or not isinstance(i, TransitionInline)]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        pipeline = form.instance
        if not change and pipeline.stages.exists() and not pipeline.transitions.exists():
            self.message_user(request, gettext(
                "Now add the pipeline's transitions and entry rules: until then, deals cannot move "
                "between its stages."
            ), messages.INFO)

    def delete_refusal(self, obj):
        return pipeline_delete_refusal(obj)


@admin.register(Stage)
class StageAdmin(ConfigurationAdminMixin, GuardedDeleteMixin, admin.ModelAdmin):
    form = StageForm
    list_display = ("name", "pipeline", "position", "probability", "kind", "rotting_days", "colour_swatch",
                    "open_deal_count")
    list_filter = ("pipeline", "kind")
    list_select_related = ("pipeline",)
    search_fields = ("name",)
    ordering = ("pipeline", "position", "pk")
    fields = (
        "pipeline", "name", "name_translations", "position", "probability", "kind", "rotting_days", "colour", "guidance",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _open=Count("deals", filter=Q(deals__status=DealStatus.OPEN))
        )

    def get_readonly_fields(self, request, obj=None):
        # A stage's deals belong to its pipeline: a stage never changes pipeline.
        return ("pipeline",) if obj else ()

    @admin.display(description=_("colour"))
    def colour_swatch(self, obj):
        return format_html(
            '<span style="display:inline-block;width:1.2em;height:1.2em;border-radius:3px;background:{}" '
            'title="{}"></span>', obj.colour, obj.colour
        )

    @admin.display(description=_("open deals"), ordering="_open")
    def open_deal_count(self, obj):
        return obj._open

    def delete_refusal(self, obj):
        return stage_delete_refusal(obj)


@admin.register(Transition)
class TransitionAdmin(ConfigurationAdminMixin, admin.ModelAdmin):
    form = TransitionForm
    # Short column titles (the field names are long): the list fits a 1440 px screen with its filters.
    list_display = ("__str__", "pipeline", "needs_amount", "needs_expected_close", "needs_contact", "needs_role",
                    "needs_next_step", "min_fit")
    list_filter = ("pipeline", "requires_amount", "requires_expected_close", "requires_contact", "requires_role",
                   "requires_next_step")
    list_select_related = ("pipeline", "from_stage", "to_stage", "requires_role")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("from_stage", "to_stage"):
            kwargs["form_class"] = PipelineStageChoiceField
            kwargs["queryset"] = Stage.objects.select_related("pipeline").order_by("pipeline", "position", "pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("pipeline",) if obj else ()

    @admin.display(description=_("amount needed"), boolean=True, ordering="requires_amount")
    def needs_amount(self, obj):
        return obj.requires_amount

    @admin.display(description=_("close date needed"), boolean=True, ordering="requires_expected_close")
    def needs_expected_close(self, obj):
        return obj.requires_expected_close

    @admin.display(description=_("contact needed"), boolean=True, ordering="requires_contact")
    def needs_contact(self, obj):
        return obj.requires_contact

    @admin.display(description=_("role needed"), ordering="requires_role__position")
    def needs_role(self, obj):
        return obj.requires_role or "—"

    @admin.display(description=_("next step needed"), boolean=True, ordering="requires_next_step")
    def needs_next_step(self, obj):
        return obj.requires_next_step

    @admin.display(description=_("minimum fit score"), ordering="min_fit_score")
    def min_fit(self, obj):
        return obj.min_fit_score


class CustomFieldForm(forms.ModelForm):
    """Choices one per line; the rules are pipeline.custom_fields', shown next to their field."""

    choices = forms.CharField(
        label=_("choices"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For single and multiple choice: the options, one per line."),
    )

    class Meta:
        model = CustomField
        fields = custom_fields.CUSTOM_FIELD_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["choices"] = "\n".join(self.instance.choices or [])

    def clean(self):
        cleaned = super().clean()
        instance = self.instance if self.instance.pk else None
        fields = {name: value for name, value in cleaned.items() if name in custom_fields.CUSTOM_FIELD_FIELDS}
        if instance is not None:
            fields = {name: value for name, value in fields.items() if name not in custom_fields.UNCHANGEABLE}
        refusal = custom_fields.custom_field_refusal(fields, instance=instance)
        if refusal:
            self.add_error(refusal.field if refusal.field in self.fields else None, str(refusal.message))
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(ConfigurationAdminMixin, GuardedDeleteMixin, admin.ModelAdmin):
    """Fields admins add to deals, organisations, people and activities. The key, the kind of
    record and the type are fixed once the field exists: values and history are stored under them."""

    form = CustomFieldForm
    list_display = ("name", "key", "record_kind", "field_type", "required", "on_cards", "position", "is_active")
    list_editable = ("position", "is_active")
    list_filter = ("record_kind", "field_type", "is_active")
    search_fields = ("name", "key")
    ordering = ("record_kind", "position", "pk")

    def get_readonly_fields(self, request, obj=None):
        return custom_fields.UNCHANGEABLE if obj else ()

    def delete_refusal(self, obj):
        refusal = custom_fields.custom_field_delete_refusal(obj)
        return str(refusal.message) if refusal else None


@admin.register(LostReason)
class LostReasonAdmin(ConfigurationAdminMixin, GuardedDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "position", "is_active", "deal_count")
    list_editable = ("position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    ordering = ("position", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_deals=Count("deals"))

    @admin.display(description=_("lost deals"), ordering="_deals")
    def deal_count(self, obj):
        return obj._deals

    def delete_refusal(self, obj):
        return lost_reason_delete_refusal(obj)


@admin.register(ContactRole)
class ContactRoleAdmin(ConfigurationAdminMixin, GuardedDeleteMixin, admin.ModelAdmin):
    """The parts people play on deals (decision maker, champion, …), offered on the deal page in
    this order; entry rules can require one."""

    list_display = ("name", "position", "is_active", "contact_count")
    list_editable = ("position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    ordering = ("position", "pk")
    fields = ("name", "name_translations", "position", "is_active")

    def get_queryset(self, request):
        contacts = DealContact.objects.filter(role_id=OuterRef("pk")).order_by().values("role_id").annotate(n=Count("pk")).values("n")
        return super().get_queryset(request).annotate(
            _contacts=Coalesce(Subquery(contacts, output_field=IntegerField()), Value(0))
        )

    @admin.display(description=_("people on deals in this role"), ordering="_contacts")
    def contact_count(self, obj):
        return getattr(obj, "_contacts", 0) if obj.pk else ""

    def delete_refusal(self, obj):
        return contact_role_delete_refusal(obj)


# --- Leads and deals ---------------------------------------------------------------------------


class OrganizationDealInline(admin.TabularInline):
    model = Deal
    fields = ("title", "stage", "status", "amount", "currency", "owner", "expected_close")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    verbose_name_plural = _("deals")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("stage", "owner")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "industry", "company_size", "country", "source", "main_contact", "owner", "fit_score",
                    "deal_count")
    list_filter = ("source", "company_size", "country", "industry", "owner")
    list_select_related = ("owner", "main_contact")
    search_fields = ("name", "domains", "main_contact__name", "main_contact__email", "website", "industry")
    inlines = (OrganizationDealInline,)
    raw_id_fields = ("main_contact",)
    fieldsets = (
        (None, {"fields": ("name", "industry", "company_size", "country", "website", "domains", "phone", "source", "owner")}),
        (_("Address"), {"fields": ("street", "postal_code", "city")}),
        (_("Main contact"), {"fields": ("main_contact",)}),
        (None, {"fields": ("created_at",)}),
        (_("Ideal customer profile"), {"fields": ("fit_score",)}),
    )
    readonly_fields = ("fit_score",)  # computed by the qualification app

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_deals=Count("deals"))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "website":
            kwargs["assume_scheme"] = "https"  # "example.com" means https://example.com
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("deals"), ordering="_deals")
    def deal_count(self, obj):
        return obj._deals

    def save_model(self, request, obj, form, change):
        if change:
            saved = organizations.organization_update(
                organization=obj.pk, actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data}
            )
        else:
            saved = organizations.organization_create(actor=request.user, **{f: form.cleaned_data[f] for f in form.cleaned_data})
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
        obj._state.adding, obj._state.db = False, saved._state.db


class DealAdminForm(forms.ModelForm):
    """Edits a deal's fields; the stage is chosen only when the deal is created."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Deal
        fields = ("title", "organization", "stage", "owner", "amount", "currency", "expected_close", "probability",
                  "next_step", "external_id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
        if "stage" in self.fields:
            self.fields["stage"].queryset = Stage.objects.select_related("pipeline").filter(
                pipeline__is_active=True
            ).order_by("pipeline", "position", "pk")
            self.fields["stage"].label_from_instance = lambda stage: f"{stage.pipeline}: {stage.name}"
            self.fields["stage"].help_text = gettext("Where the new deal starts. Later moves use the actions.")

    def clean(self):
        cleaned = super().clean()
        try:
            if "amount" in cleaned:
                cleaned["amount"] = services.money_clean(cleaned["amount"])
            if "currency" in cleaned:
                cleaned["currency"] = services.currency_clean(
                    cleaned["currency"], current=self.instance.currency if self.instance.pk else None
                )
        except PipelineError as error:
            raise ValidationError(str(error.message))
        stage = cleaned.get("stage") if not self.instance.pk else self.instance.stage
        if stage is None:
            return cleaned
        changes = {f: cleaned[f] for f in ("amount", "expected_close", "next_step", "organization") if f in cleaned}
        try:
            if self.instance.pk:
                services.deal_entry_check(
                    services.DealState.of(self.instance, **changes), stage, stage,
                    check_fit="organization" in self.changed_data,
                )
            else:
                services.deal_entry_check(services.DealState(**changes), None, stage)
        except PipelineError as refusal:
            raise ValidationError(str(refusal.message))
        return cleaned


class ServiceRefused(Exception):
    """A service refused the admin's save; carries the message to show."""


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    form = DealAdminForm
    list_display = ("title", "organization", "pipeline", "stage", "status", "amount", "currency", "owner", "expected_close",
                    "stage_entered_at")
    list_filter = ("pipeline", "stage", "status", "owner", "currency", "lost_reason")
    list_select_related = ("organization", "pipeline", "stage", "owner")
    search_fields = ("title", "organization__name", "next_step", "external_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-pk")
    autocomplete_fields = ("organization",)
    readonly_fields = ("pipeline", "stage", "status", "lost_reason", "lost_note", "stage_entered_at", "closed_at",
                       "created_at", "updated_at", "version", "history_link")
    actions = ("mark_lost", "reopen")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("title", "organization", "stage", "owner", "amount", "currency", "expected_close",
                                       "probability", "next_step", "external_id")}),)
        return (
            (None, {"fields": ("title", "organization", "owner", "amount", "currency", "expected_close", "probability",
                               "next_step", "external_id", "expected_version")}),
            (_("Stage and status (changed only by the actions of the deal list)"),
             {"fields": ("pipeline", "stage", "status", "lost_reason", "lost_note", "stage_entered_at", "closed_at",
                         "history_link")}),
            (None, {"fields": ("created_at", "updated_at", "version")}),
        )

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    @admin.display(description=_("history"))
    def history_link(self, obj):
        url = reverse("admin:pipeline_stagechange_changelist") + f"?deal__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, gettext("Stage changes of this deal"))

    # Saving goes through the services; a refusal rolls back and is shown as a message.

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                fields = {f: data[f] for f in form.changed_data if f in services.UPDATABLE_FIELDS}
                saved = services.deal_update(deal=obj.pk, actor=request.user,
                                             expected_version=data.get("expected_version"), **fields)
            else:
                saved = services.deal_create(
                    actor=request.user, organization=data["organization"], title=data["title"], stage=data["stage"],
                    owner=data.get("owner") or request.user, amount=data.get("amount"), currency=data.get("currency"),
                    expected_close=data.get("expected_close"), next_step=data.get("next_step") or "",
                    probability=data.get("probability"), external_id=data.get("external_id") or "",
                )
        except PipelineError as error:
            raise ServiceRefused(str(error.message)) from error
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # Actions: every stage and status change goes through pipeline.services.

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            return actions
        stages = list(Stage.objects.select_related("pipeline").filter(pipeline__is_active=True)
                      .order_by("pipeline__position", "pipeline", "position", "pk"))
        several = len({s.pipeline_id for s in stages}) > 1
        for stage in stages:
            name = f"move_to_stage_{stage.pk}"
            label = f"{stage.pipeline}: {stage.name}" if several else stage.name
            description = gettext("Move selected deals to “%(stage)s”") % {"stage": label}
            actions[name] = (self._move_action(stage.pk), name, description)
        return actions

    @staticmethod
    def _move_action(stage_id: int):
        def move(modeladmin, request, queryset):
            stage = Stage.objects.get(pk=stage_id)
            modeladmin._run_service(
                request, queryset,
                lambda deal: services.deal_move(deal=deal, to_stage=stage, actor=request.user),
                done=lambda n: ngettext("Moved %(count)d deal to “%(stage)s”.",
                                        "Moved %(count)d deals to “%(stage)s”.", n) % {"count": n, "stage": stage.name},
                unchanged=lambda deal: deal.stage_id == stage.pk,
            )
        return move

    def _run_service(self, request, queryset, call, *, done, unchanged=lambda deal: False):
        changed = 0
        refusals = []
        for deal in queryset.select_related("stage").order_by("pk"):
            if unchanged(deal):
                continue
            try:
                call(deal.pk)
            except PipelineError as error:
                refusals.append(f"{deal.title}: {error.message}")
            else:
                changed += 1
        if changed:
            self.message_user(request, done(changed), messages.SUCCESS)
        for refusal in refusals[:MAX_REPORTED_REFUSALS]:
            self.message_user(request, refusal, messages.WARNING)
        if len(refusals) > MAX_REPORTED_REFUSALS:
            extra = len(refusals) - MAX_REPORTED_REFUSALS
            self.message_user(request, ngettext("… and %(count)d more deal was refused.",
                                                "… and %(count)d more deals were refused.", extra) % {"count": extra},
                              messages.WARNING)
        if not changed and not refusals:
            self.message_user(request, gettext("Nothing to change."), messages.INFO)

    @admin.action(description=_("Mark selected deals lost…"), permissions=["change"])
    def mark_lost(self, request, queryset):
        form = LostReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason, note = form.cleaned_data["reason"], form.cleaned_data["note"]
            self._run_service(
                request, queryset,
                lambda deal: services.deal_mark_lost(deal=deal, reason=reason, note=note, actor=request.user),
                done=lambda n: ngettext("Marked %(count)d deal lost.", "Marked %(count)d deals lost.", n)
                % {"count": n},
                unchanged=lambda deal: deal.status == DealStatus.LOST,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Mark deals lost"),
            "opts": self.opts,
            "deals": queryset.select_related("organization", "stage"),
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "mark_lost",
        }
        return TemplateResponse(request, "admin/pipeline/deal/mark_lost.html", context)

    @admin.action(description=_("Reopen selected lost deals"), permissions=["change"])
    def reopen(self, request, queryset):
        self._run_service(
            request, queryset,
            lambda deal: services.deal_reopen(deal=deal, actor=request.user),
            done=lambda n: ngettext("Reopened %(count)d deal.", "Reopened %(count)d deals.", n) % {"count": n},
            unchanged=lambda deal: deal.status == DealStatus.OPEN,
        )


class LostReasonForm(forms.Form):
    reason = forms.ModelChoiceField(
        label=_("Lost reason"), queryset=LostReason.objects.filter(is_active=True).order_by("position", "pk")
    )
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


# --- History: read-only --------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is append-only: it can be looked at, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "deal", "from_stage", "to_stage", "from_status", "to_status", "actor_display",
                    "time_in_previous", "lost_reason")
    list_filter = ("to_status", "to_stage__pipeline", "to_stage", "lost_reason")
    list_select_related = ("deal", "from_stage", "to_stage", "actor", "lost_reason")
    search_fields = ("deal__title", "deal__organization__name", "actor__username", "actor_label")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")

    @admin.display(description=_("by"))
    def actor_display(self, obj):
        return obj.actor_display


@admin.register(DealChange)
class DealChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "deal", "field", "old_value", "new_value", "actor_display")
    list_filter = ("field",)
    list_select_related = ("deal", "actor")
    search_fields = ("deal__title", "deal__organization__name", "actor__username", "actor_label")
    date_hierarchy = "at"
    ordering = ("-at", "-pk")

    @admin.display(description=_("by"))
    def actor_display(self, obj):
        return obj.actor_display
