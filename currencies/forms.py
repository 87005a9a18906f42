"""Forms of the exchange-rate admin: they check with the services' own rules (one home per rule)."""
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import BudgetRate, ExchangeRate
from .services import RateRefused, currency_code_clean, rate_clean


def _field_clean(clean, value):
    try:
        return clean(value)
    except RateRefused as refusal:
        raise forms.ValidationError(refusal.message, code=refusal.code) from None


class ExchangeRateForm(forms.ModelForm):
    rate = forms.CharField(
        label=_("rate"), help_text=ExchangeRate._meta.get_field("rate").help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 16}),
    )

    class Meta:
        model = ExchangeRate
        fields = ("currency", "day", "rate")

    def clean_currency(self):
        return _field_clean(currency_code_clean, self.cleaned_data["currency"])

    def clean_rate(self):
        return _field_clean(rate_clean, self.cleaned_data["rate"])


class BudgetRateForm(forms.ModelForm):
    rate = forms.CharField(
        label=_("rate"), help_text=BudgetRate._meta.get_field("rate").help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 16}),
    )

    class Meta:
        model = BudgetRate
        fields = ("currency", "year", "rate")

    def clean_currency(self):
        return _field_clean(currency_code_clean, self.cleaned_data["currency"])

    def clean_rate(self):
        return _field_clean(rate_clean, self.cleaned_data["rate"])


class RatesFileForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "A CSV file with the columns currency, date and rate, e.g. “USD,2025-06-02,0.8771”: what one "
            "unit of the currency was worth in the reporting currency on that day."
        ),
    )
