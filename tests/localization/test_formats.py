"""Amounts and dates as each language writes them; amounts read in either format."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import formats, translation

from localization.fields import AmountField
from localization.formatting import money, money_formatter, parse_amount


def render(source: str, **context) -> str:
    return Template("{% load money %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "€1,234.56"), ("de", "1.234,56\u00a0€")],
)
def test_an_amount_in_euro(language, expected):
    with translation.override(language):
        assert money(Decimal("1234.56"), "EUR") == expected
        assert render("{% money value 'EUR' %}", value=Decimal("1234.56")) == expected


def test_currency_without_symbol_and_whole_units():
    with translation.override("en"):
        assert money(Decimal("1234567.891"), "CHF", 0) == "CHF\u00a01,234,568"
        assert money(Decimal("-12.5"), "USD") == "−$12.50"
        assert money(None, "EUR") == "—"
    with translation.override("de"):
        assert money(Decimal("1234567.891"), "CHF", 0) == "1.234.568\u00a0CHF"
        assert render("{{ v|amount:0 }}", v=Decimal("98765.4")) == "98.765"


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "March 5, 2026"), ("de", "5. März 2026")],
)
def test_a_date(language, expected):
    with translation.override(language):
        assert Template("{{ d|date:'DATE_FORMAT' }}").render(Context({"d": date(2026, 3, 5)})) == expected
        assert Template("{{ d }}").render(Context({"d": date(2026, 3, 5)})) == expected


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("1234,5", "1234.5"), ("1234.50", "1234.50"),
        ("1.234.567", "1234567"), ("1,234,567.8", "1234567.8"), ("€ 1 234,00", "1234.00"), ("12", "12"),
        ("2.500,00 EUR", "2500.00"),
    ],
)
def test_amounts_are_read_in_either_format(language, text, expected):
    with translation.override(language):
        assert parse_amount(text) == Decimal(expected)
        assert AmountField().clean(text) == Decimal(expected)


def test_a_lone_group_of_three_follows_the_active_language():
    with translation.override("de"):
        assert parse_amount("1.234") == Decimal("1234")
        assert parse_amount("1,234") == Decimal("1.234")
    with translation.override("en"):
        assert parse_amount("1,234") == Decimal("1234")
        assert parse_amount("1.234") == Decimal("1.234")


@pytest.mark.parametrize("text", ["abc", "1.23.4", "1,2,3.4.5", "12,", "1..2", "12,34,567.00", "--1"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_the_amount_field_shows_and_reports_in_the_active_language():
    field = AmountField(required=False)
    with translation.override("de"):
        assert field.widget.format_value(Decimal("1234.5")) == "1.234,50"
        with pytest.raises(Exception) as error:
            field.clean("zwölf")
        assert "Geben Sie einen Betrag" in str(error.value)
    with translation.override("en"):
        assert field.widget.format_value(Decimal("1234.5")) == "1,234.50"


@pytest.mark.parametrize("language", ["en", "de"])
def test_money_formatter_writes_what_money_writes(language):
    values = [Decimal("0"), Decimal("0.4"), Decimal("0.5"), Decimal("-0.5"), Decimal("999.5"), Decimal("-1234.5"),
              Decimal("1234567.891"), Decimal("0.004"), 0, 7, -3, 10**12, 1.5, None, ""]
    with translation.override(language):
        for places in (0, 2):
            fast = money_formatter(places)
            for currency in ("EUR", "USD", "CHF", "gbp", ""):
                assert [fast(v, currency) for v in values] == [money(v, currency, places) for v in values]


@pytest.mark.parametrize("language", ["en", "de"])
def test_short_date_formatter_writes_what_date_format_writes(language):
    from datetime import date, timedelta

    from django.utils import formats

    from localization.formatting import short_date_formatter

    days = [date(1999, 12, 25) + timedelta(days=n) for n in range(0, 10000, 37)]
    with translation.override(language):
        fast = short_date_formatter()
        assert [fast(day) for day in days] == [formats.date_format(day, "SHORT_DATE_FORMAT") for day in days]
