"""Numbers as the offer's language writes them (1,234.50 in English, 1.234,50 in German)."""
from decimal import Decimal

from django.utils import formats

from localization import formatting as localization_formatting


def number(value, places: int = 2) -> str:
    if value is None:
        return ""
    return formats.number_format(Decimal(value), decimal_pos=places, use_l10n=True, force_grouping=True)


def quantity(value) -> str:
    value = Decimal(value)
    places = 0 if value == value.to_integral_value() else max(0, -value.normalize().as_tuple().exponent)
    return number(value, places)


def percent(value) -> str:
    value = Decimal(value)
    places = 0 if value == value.to_integral_value() else 2
    return f"{number(value, places)} %"


def money(value, currency: str) -> str:
    # One way to write amounts across Stageflow: "€1,234.50" / "1.234,50 €".
    return localization_formatting.money(value, currency, 2)
