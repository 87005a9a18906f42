from django import forms
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from pipeline.selectors import visible_pipelines

from .models import ImportKind
from .parsing import PREVIEW_CHARS, FileRefused, parse_upload
from .services import TARGETS, import_settings


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What does the file hold?"), choices=ImportKind.choices, widget=forms.RadioSelect,
                             initial=ImportKind.ORGANIZATIONS)
    pipeline = forms.ModelChoiceField(
        label=_("Pipeline for the deals"), queryset=None, required=False, empty_label=None,
        help_text=_("Deals start in the stage named in their row, or in this pipeline's first stage."),
    )
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (comma, semicolon or tab separated) or Excel (.xlsx), with a header row."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        pipelines = visible_pipelines(user).order_by("-is_default", "position", "pk")
        self.fields["pipeline"].queryset = pipelines
        self.fields["pipeline"].initial = pipelines.first()
        self.parsed = None

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limits = import_settings()
        try:
            self.parsed = parse_upload(upload, max_bytes=limits["max_bytes"], max_rows=limits["max_rows"])
        except FileRefused as err:
            raise forms.ValidationError(err.message, code="refused")
        return upload

    def clean(self):
        data = super().clean()
        if data.get("kind") == ImportKind.DEALS and not data.get("pipeline"):
            self.add_error("pipeline", _("Choose the pipeline for the deals."))
        return data


class MappingForm(forms.Form):
    """One choice per Stageflow field: which column of the file fills it."""

    def __init__(self, *args, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        columns = [("", _("— not imported —"))] + [
            (str(i), Truncator(header).chars(PREVIEW_CHARS)) for i, header in enumerate(job.headers)
        ]
        for target in TARGETS[job.kind]:
            index = job.mapping.get(target.name)
            self.fields[target.name] = forms.ChoiceField(
                label=target.label, choices=columns, required=False,
                initial="" if index is None else str(index),
            )
            self.fields[target.name].is_required_target = target.required
            self.fields[target.name].sample = self._sample(index)

    def _sample(self, index):
        if index is None:
            return ""
        values = [Truncator(row[index]).chars(PREVIEW_CHARS) for row in self.job.rows[:3] if index < len(row) and row[index]]
        return ", ".join(values)

    def clean(self):
        data = super().clean()
        mapping = {name: int(value) for name, value in data.items() if value not in ("", None)}
        for target in TARGETS[self.job.kind]:
            if target.required and target.name not in mapping:
                self.add_error(target.name, _("Choose the column that holds %(field)s; it is required.")
                               % {"field": target.label})
        used: dict[int, str] = {}
        for name, index in mapping.items():
            if index in used:
                self.add_error(name, _("Column “%(column)s” is already used for another field.")
                               % {"column": self.job.headers[index]})
            used[index] = name
        self.mapping = mapping
        return data
