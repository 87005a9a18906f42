"""Money arithmetic is exact and rounds half up to each currency's own minor unit."""
from decimal import Decimal

import pytest

from currencies.money import convert, minor_unit, quantum, round_money


@pytest.mark.parametrize(
    ("currency", "places"), [("EUR", 2), ("USD", 2), ("CHF", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("jpy", 0)]
)
def test_each_currency_has_its_own_number_of_decimals(currency, places):
    assert minor_unit(currency) == places
    assert quantum(currency) == Decimal(1).scaleb(-places)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "EUR", "0.13"),  # half up, not to even
        ("0.135", "EUR", "0.14"),
        ("0.124999", "EUR", "0.12"),
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("1234.4999", "JPY", "1234"),
        ("1.0005", "KWD", "1.001"),
        ("-0.125", "EUR", "-0.13"),  # away from zero for negatives too
    ],
)
def test_rounding_is_half_up_to_the_minor_unit(amount, currency, rounded):
    result = round_money(Decimal(amount), currency)
    assert result == Decimal(rounded) and str(result) == rounded


def test_a_conversion_multiplies_exactly_and_rounds_once():
    # 0.1 + 0.2 in floats is 0.30000000000000004; Decimals stay exact.
    assert convert(Decimal("1000.10"), Decimal("0.9249"), "EUR") == Decimal("924.99")  # 924.992490
    assert convert(Decimal("1000.00"), Decimal("161.235"), "JPY") == Decimal("161235")
    assert convert(Decimal("999.99"), Decimal("0.005"), "EUR") == Decimal("5.00")  # 4.99995 → 5.00


def test_floats_are_read_as_written_not_as_binary_fractions():
    assert round_money(1.005, "EUR") == Decimal("1.01")  # the float 1.005 is 1.00499999…
