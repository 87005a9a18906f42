from django import forms
from django.utils.translation import gettext_lazy as _

from pipeline.models import LeadSource


class OrganizationFilterForm(forms.Form):
    """The lead list's filters, read from the query string (the export uses the same ones)."""

    SORT_CHOICES = [
        ("fit", _("Best fit first")),
        ("-fit", _("Weakest fit first")),
        ("name", _("Company name")),
        ("newest", _("Newest first")),
    ]

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    # Free text, so that a link or an export keeps working for an industry not in the choices.
    industry = forms.CharField(label=_("Industry"), required=False, max_length=100)
    country = forms.CharField(label=_("Country"), required=False, max_length=2)
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", _("Any source")), *LeadSource.choices])
    min_score = forms.IntegerField(label=_("Minimum fit"), required=False, min_value=0, max_value=100)
    owner = forms.IntegerField(label=_("Owner"), required=False, min_value=1)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)
    # A lead is an organisation that is not a customer yet: customers only when asked for.
    show = forms.ChoiceField(label=_("Show"), required=False, choices=[
        ("", _("Leads (no deal won yet)")), ("customers", _("Customers")), ("all", _("Leads and customers")),
    ])

    def __init__(self, *args, industries=(), owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.industry_choices = [("", _("Any industry")), *((i, i) for i in industries)]
        self.owner_choices = [("", _("Anyone")), *((str(u.pk), str(u)) for u in owners)]

    def filters(self) -> dict:
        """Clean filters for qualification.selectors.lead_list; invalid ones are ignored."""
        self.is_valid()
        data = self.cleaned_data  # after a failed validation: only the fields that were valid
        return {
            "q": (data.get("q") or "").strip(),
            "industry": (data.get("industry") or "").strip(),
            "country": (data.get("country") or "").strip(),
            "source": data.get("source") or "",
            "min_score": data.get("min_score"),
            "owner": data.get("owner"),
            "sort": data.get("sort") or "fit",
            "show": data.get("show") or "leads",
        }
