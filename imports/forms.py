from django import forms
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from pipeline.selectors import assignable_users, visible_pipelines

from .models import ImportKind
from .parsing import PREVIEW_CHARS, FileRefused, parse_upload
from .services import import_settings, targets


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
        for target in targets(job.kind):
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
        for target in targets(self.job.kind):
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


class ValuesForm(forms.Form):
    """The value-mapping step: one choice per distinct value of the stage, status, owner, country
    and lost-reason columns, and the file's date order and decimal separator."""

    def __init__(self, *args, job, user, remembered: dict | None = None, **kwargs):
        from pipeline.models import LostReason

        from . import values as v

        super().__init__(*args, **kwargs)
        self.job = job
        remembered = remembered or {}
        chosen = {name: {**remembered.get("value_mapping", {}).get(name, {}), **job.value_mapping.get(name, {})}
                  for name in v.VALUE_FIELDS}
        self.sections: list[dict] = []
        stages = list(job.pipeline.stages.order_by("position", "pk")) if job.pipeline_id else []
        users = list(assignable_users(user)) if "owner" in job.mapping else []
        reasons = list(LostReason.objects.order_by("position", "pk")) if "lost_reason" in job.mapping else []
        can_create = bool(getattr(user, "is_admin", False))
        plans = {
            "stage": (_("Stages"), lambda: v.stage_options(stages), lambda t: v.stage_propose(t, stages)),
            "status": (_("Status"), lambda: [(v.OPEN, _("Open")), (v.WON, _("Won")), (v.LOST, _("Lost"))],
                       v.status_word),
            "owner": (_("Owners"), lambda: v.owner_options(user), lambda t: v.owner_propose(t, users, can_create=can_create)),
            "country": (_("Countries"), lambda: [(v.NONE, _("— leave empty —"))] + v.country_options(), v.country_propose),
            "lost_reason": (_("Lost reasons"), lambda: v.lost_reason_options(user),
                            lambda t: v.lost_reason_propose(t, reasons, can_create=can_create)),
        }
        if job.kind != "deals":
            plans = {k: plans[k] for k in ("owner", "country")}
        for name, (title, options, propose) in plans.items():
            found = v.distinct_values(job, name)
            if not found:
                continue
            choices = [("", _("— choose —"))] + list(options())
            allowed = {value for value, _label in choices}
            section = {"name": name, "title": title, "fields": [], "too_many": len(found) > v.MAX_DISTINCT}
            for i, text in enumerate(found[: v.MAX_DISTINCT]):
                key = f"{name}__{i}"
                initial = chosen[name].get(text)
                if initial not in allowed:
                    initial = propose(text)
                self.fields[key] = forms.ChoiceField(
                    label=text, choices=choices, initial=initial,
                    error_messages={"required": _("Choose what “%(value)s” becomes.") % {"value": text}},
                )
                self.fields[key].value_text = text
                section["fields"].append(key)
            self.sections.append(section)
        self.guesses = v.formats_detect(job)
        formats = {**remembered.get("formats", {}), **(job.formats or {})}
        for name, labels in (("date_order", v.DATE_ORDERS), ("decimal_separator", v.DECIMAL_SEPARATORS)):
            if name not in self.guesses:
                continue
            guess = self.guesses[name]
            self.fields[name] = forms.ChoiceField(
                label=_("Dates are written") if name == "date_order" else _("Decimals are written with a"),
                choices=[("", _("— choose —"))] + list(labels.items()), widget=forms.RadioSelect,
                initial=formats.get(name) or guess.choice,
                error_messages={"required": _("Confirm how the file writes this; the evidence is shown beside it.")},
            )
            self.fields[name].evidence = v.evidence_text(name, guess)

    def section_fields(self):
        for section in self.sections:
            yield section, [self[key] for key in section["fields"]]

    def format_fields(self):
        return [self[name] for name in ("date_order", "decimal_separator") if name in self.fields]

    def clean(self):
        data = super().clean()
        self.value_mapping = {}
        for section in self.sections:
            self.value_mapping[section["name"]] = {
                self.fields[key].value_text: data[key] for key in section["fields"] if data.get(key)
            }
        self.formats = {name: data[name] for name in ("date_order", "decimal_separator") if data.get(name)}
        return data


class CommitForm(forms.Form):
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows and skip the rows with errors"), required=False,
        help_text=_("Without this, nothing is imported while any row has an error."),
    )
