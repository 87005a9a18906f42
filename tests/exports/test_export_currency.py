"""The board export converts each deal into the reporting currency beside its own amount: an open
deal at today's rate, a won deal at the rate of its close date, and a deal without a rate says so
instead of getting a made-up figure."""
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from currencies.models import ExchangeRate
from pipeline.models import DealStatus
from tests.exports.test_exports import csv_rows, xlsx_sheet
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(datetime(2025, 6, 4, 10, tzinfo=dt_timezone.utc), tick=False):
        yield


@pytest.fixture
def deals(rep, stages):
    ExchangeRate.objects.create(currency="USD", day=date(2025, 5, 20), rate=Decimal("0.90"))
    ExchangeRate.objects.create(currency="USD", day=date(2025, 6, 3), rate=Decimal("0.88"))
    DealFactory(owner=rep, title="Open USD", amount=Decimal("1000.00"), currency="USD", stage=stages["Offer"])
    DealFactory(
        owner=rep, title="Won USD", amount=Decimal("1000.00"), currency="USD", stage=stages["Retention"],
        status=DealStatus.WON, closed_at=datetime(2025, 5, 20, 15, tzinfo=dt_timezone.utc),
    )  # fmt: skip
    DealFactory(owner=rep, title="Open CHF", amount=Decimal("500.00"), currency="CHF", stage=stages["Offer"])


def test_the_csv_has_each_amount_in_the_reporting_currency_and_the_rate_used(client, rep, deals):
    client.force_login(rep)
    rows = {r["Title"]: r for r in csv_rows(client.get(reverse("exports:board_csv")))}
    assert (rows["Open USD"]["Amount in EUR"], rows["Open USD"]["Exchange rate"]) == ("880.00", "0.88")
    assert rows["Open USD"]["Weighted amount in EUR"] == "528.00"
    assert (rows["Won USD"]["Amount in EUR"], rows["Won USD"]["Exchange rate"]) == ("900.00", "0.9")
    assert (rows["Open CHF"]["Amount in EUR"], rows["Open CHF"]["Exchange rate"]) == ("", "no rate")
    assert (rows["Open USD"]["Amount"], rows["Open USD"]["Currency"]) == ("1000.00", "USD")  # as entered


def test_the_excel_file_has_the_converted_amounts_as_numbers(client, rep, deals):
    client.force_login(rep)
    sheet = xlsx_sheet(client.get(reverse("exports:board_xlsx")))
    header = [c.value for c in sheet[1]]
    rows = {r[header.index("Title")].value: r for r in sheet.iter_rows(min_row=2)}
    cell = rows["Open USD"][header.index("Amount in EUR")]
    assert cell.value == pytest.approx(880.0) and cell.data_type == "n"
