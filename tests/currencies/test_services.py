"""Rates are written only through the services: checked, audited, announced to the forecast, and
a file is imported all or nothing with every bad line named."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ConfigChange
from currencies import services
from currencies.importing import RatesFileInvalid, rates_from_csv
from currencies.models import BudgetRate, ExchangeRate, RateSource
from outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_setting_a_rate_writes_it_audits_it_and_asks_for_a_forecast_refresh(admin_user):
    row = services.exchange_rate_set(currency="usd", day=date(2025, 6, 2), rate="0,8771", actor=admin_user)
    assert (row.base, row.currency, row.rate, row.source) == ("EUR", "USD", Decimal("0.8771"), RateSource.ADMIN)
    change = ConfigChange.objects.get(object_id=str(row.pk))
    assert change.action == "create" and change.actor == admin_user
    assert change.changes["rate"] == [None, "0.8771"]
    assert OutboxMessage.objects.filter(topic="currencies.rates_changed", handler="forecasting.refresh_on_rates").exists()


def test_changing_a_rate_is_audited_with_old_and_new_and_the_same_rate_again_writes_nothing(admin_user):
    services.exchange_rate_set(currency="USD", day=date(2025, 6, 2), rate="0.8771", actor=admin_user)
    services.exchange_rate_set(currency="USD", day=date(2025, 6, 2), rate="0.88", actor=admin_user)
    services.exchange_rate_set(currency="USD", day=date(2025, 6, 2), rate="0.8800", actor=admin_user)
    assert ExchangeRate.objects.get().rate == Decimal("0.88")
    updates = ConfigChange.objects.filter(action="update")
    assert updates.count() == 1 and updates.get().changes["rate"] == ["0.8771", "0.88"]


@pytest.mark.parametrize(
    ("currency", "rate", "code"),
    [
        ("US", "0.9", "invalid_currency"),
        ("EUR", "1", "reporting_currency"),
        ("USD", "0", "invalid_rate"),
        ("USD", "-1.2", "invalid_rate"),
        ("USD", "abc", "invalid_rate"),
        ("USD", "1.234,5", "invalid_rate"),
        ("USD", "0.12345678901", "invalid_rate"),
        ("USD", "NaN", "invalid_rate"),
    ],
)
def test_bad_rates_are_refused_and_nothing_is_written(currency, rate, code):
    with pytest.raises(services.RateRefused) as refused:
        services.exchange_rate_set(currency=currency, day=date(2025, 6, 2), rate=rate)
    assert refused.value.code == code
    assert not ExchangeRate.objects.exists() and not ConfigChange.objects.exists()


def test_deleting_a_rate_is_audited(admin_user):
    row = services.exchange_rate_set(currency="USD", day=date(2025, 6, 2), rate="0.88")
    services.exchange_rate_delete(rate=row, actor=admin_user)
    assert not ExchangeRate.objects.exists()
    assert ConfigChange.objects.filter(action="delete", object_id=str(row.pk), actor=admin_user).exists()


def test_a_budget_rate_is_kept_per_year_and_audited(admin_user):
    services.budget_rate_set(currency="CHF", year=2025, rate="1.06", actor=admin_user)
    services.budget_rate_set(currency="CHF", year=2025, rate="1.07", actor=admin_user)
    assert BudgetRate.objects.get().rate == Decimal("1.07")
    assert list(ConfigChange.objects.order_by("pk").values_list("action", flat=True)) == ["create", "update"]


GOOD_FILE = "currency;date;rate\nUSD;02.06.2025;0,8771\nCHF;2025-06-02;1.0664\nUSD;2025-06-03;0.8790\n"


def test_a_file_is_imported_with_german_dates_and_decimal_commas():
    result = services.exchange_rates_import(rows=rates_from_csv(GOOD_FILE.encode()), actor_label="rates.csv")
    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert ExchangeRate.objects.get(currency="USD", day=date(2025, 6, 2)).rate == Decimal("0.8771")
    assert ExchangeRate.objects.get(currency="CHF").source == RateSource.IMPORT
    assert ConfigChange.objects.filter(action="create", actor_label="rates.csv").count() == 3
    again = services.exchange_rates_import(rows=rates_from_csv(GOOD_FILE.replace("0,8771", "0,8772")))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)


def test_every_bad_line_is_named_and_nothing_is_written():
    text = (
        "Währung,Datum,Kurs\n"
        "USD,2025-06-02,0.8771\n"
        "XX,2025-06-02,1\n"
        "CHF,31.02.2025,1.06\n"
        "GBP,2025-06-02,zero\n"
        "EUR,2025-06-02,1\n"
        "USD,2025-06-02,0.88\n"
    )
    with pytest.raises(RatesFileInvalid) as invalid:
        rates_from_csv(text)
    errors = invalid.value.errors
    assert errors[0] == "Line 3: “XX” is not a currency code such as USD."
    assert errors[1].startswith("Line 4: “31.02.2025” is not a date")
    assert errors[2] == "Line 5: “zero” is not a rate."
    assert errors[3] == "Line 6: EUR is the reporting currency: its rate is always 1."
    assert errors[4] == "Line 7: USD on 2025-06-02 is also on line 2."
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty."),
        ("USD,2025-06-02,0.88\n", "The first line must name the columns currency, date and rate"),
        ("currency,date,rate\n", "The file has no rates below its header."),
    ],
)
def test_a_file_without_rates_says_why(text, message):
    with pytest.raises(RatesFileInvalid) as invalid:
        rates_from_csv(text)
    assert invalid.value.errors[0].startswith(message)


def test_an_import_with_one_refused_row_writes_nothing():
    rows = [
        services.RateRow("USD", date(2025, 6, 2), Decimal("0.88")),
        services.RateRow("USD", date(2025, 6, 2), Decimal("0.89")),
    ]
    with pytest.raises(services.RateRefused):
        services.exchange_rates_import(rows=rows)
    assert not ExchangeRate.objects.exists() and not ConfigChange.objects.exists()


def test_the_import_command_reports_bad_lines_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("currency,date,rate\nUSD,2025-06-02,0.88\nUSD,tomorrow,0.9\n")
    with pytest.raises(CommandError, match="Line 3: “tomorrow” is not a date"):
        call_command("import_rates", str(bad))
    assert not ExchangeRate.objects.exists()
    good = tmp_path / "good.csv"
    good.write_text("currency,date,rate\nUSD,2025-06-02,0.88\n")
    call_command("import_rates", str(good))
    assert ExchangeRate.objects.get().rate == Decimal("0.88")
