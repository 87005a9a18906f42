from django import forms
from django.utils.translation import gettext_lazy as _

from pipeline import selectors as pipeline_selectors
from pipeline.forms import CUSTOM_PREFIX, CustomFieldsMixin

from .models import ActivityKind

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class ActivityForm(CustomFieldsMixin, forms.Form):
    custom_kind = "activity"
    kind = forms.ChoiceField(label=_("Kind"), choices=ActivityKind.choices)
    title = forms.CharField(label=_("What"), max_length=200, error_messages={"required": _("Say what is planned.")})
    due_at = forms.DateTimeField(
        label=_("Due"), input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput(),
        error_messages={"required": _("Choose when it is due.")},
    )
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None, required=False, empty_label=None)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, current_owner=None, activity=None, **kwargs):
        super().__init__(*args, **kwargs)
        owners = pipeline_selectors.assignable_users(user)
        if current_owner is not None:
            owners = owners | type(current_owner).objects.filter(pk=current_owner.pk)
        self.fields["owner"].queryset = owners.distinct().order_by("first_name", "last_name", "username")
        self.fields["owner"].label_from_instance = lambda u: str(u)
        self.fields["owner"].initial = (current_owner or user).pk
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-select" if name in ("kind", "owner") else "form-control")
        self.custom_fields_init(user=user, record=activity)

    def activity_fields(self) -> dict:
        """The cleaned fields as activities.services takes them, the custom fields as `custom`
        (left out without definitions, so that required ones are asked of forms that show them)."""
        data = {name: value for name, value in self.cleaned_data.items() if not name.startswith(CUSTOM_PREFIX)}
        if self.custom_definitions:
            data["custom"] = self.custom_values()
        return data


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
        help_text=_("**bold**, *italic*, `code`, - lists, [text](https://…) links."),
        error_messages={"required": _("The note is empty.")},
    )


class UpsellForm(forms.Form):
    pipeline = forms.ModelChoiceField(label=_("Pipeline"), queryset=None, empty_label=None)
    title = forms.CharField(label=_("Title"), max_length=200, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = pipeline_selectors.visible_pipelines(user).order_by("position", "pk")
        self.fields["pipeline"].widget.attrs["class"] = "form-select"
        self.fields["title"].widget.attrs["class"] = "form-control"
