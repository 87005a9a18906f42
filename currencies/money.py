"""Money arithmetic: exact Decimals, rounded half up to the currency's minor unit (ISO 4217: JPY
has no decimals, the dinars of Bahrain, Kuwait, Oman, Jordan and Tunisia three, most two).

Conversion multiplies exactly and rounds once, at the end: a total converted from several sums is
the rounded sum of the exact products, not a sum of rounded parts."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies whose minor unit is not a hundredth.
MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip
DEFAULT_MINOR_UNIT = 2


def minor_unit(currency: str) -> int:
    """How many decimals the currency has."""
    return MINOR_UNITS.get((currency or "").upper(), DEFAULT_MINOR_UNIT)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: 0.01 EUR, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's minor unit (2.5 JPY → 3, 0.125 EUR → 0.13)."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def convert(amount, rate, currency: str) -> Decimal:
    """`amount` × `rate` in `currency` (the currency converted into), rounded to its minor unit."""
    return round_money(Decimal(amount) * Decimal(rate), currency)
