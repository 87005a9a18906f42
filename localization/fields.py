from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .formatting import number, parse_amount


class AmountInput(forms.TextInput):
    """A text input (a number input refuses "1.234,56") that shows the amount in the active
    language and opens the numeric keyboard on phones."""

    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
            return number(value, 2)
        return super().format_value(value)


class AmountField(forms.DecimalField):
    """A money amount typed as "1.234,56" or "1,234.56" (either language's way)."""

    widget = AmountInput
    default_error_messages = {"invalid": _("Enter an amount such as 1,234.56 or 1.234,56.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        # No min/step attributes: they belong to number inputs.
        return {}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            value = value.strip()
        try:
            return parse_amount(value)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
