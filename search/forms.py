from django import forms
from django.utils.translation import gettext_lazy as _

from .query import clean_text
from .selectors import DEALS, ORGANIZATIONS, PEOPLE


class SearchForm(forms.Form):
    """The search box's text and, for "show all", one kind. Never invalid: text of any length or
    content is cleaned (search.query.clean_text), an unknown kind means all of them."""

    q = forms.CharField(label=_("Find"), required=False, strip=False)
    kind = forms.ChoiceField(
        label=_("Show"), required=False,
        choices=[
            ("", _("Everything")), (DEALS, _("Deals")), (ORGANIZATIONS, _("Organisations")), (PEOPLE, _("People")),
        ],
    )

    def cleaned(self) -> tuple[str, str]:
        """(text, kind)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        text = clean_text(data.get("q") if "q" in data else self.data.get("q"))
        return text, data.get("kind") or ""
