"""Writing the board and the lead list as CSV (streamed) and Excel.

No value can become a formula in a spreadsheet program: text starting with =, +, -, @, a tab or
a carriage return is prefixed with a single quote in CSV, and every text cell in Excel is
written as a string (openpyxl would otherwise store "=…" as a formula). Amounts are numbers,
with their currency in a column of its own, and converted into the reporting currency beside it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator

from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from currencies import rates
from currencies.money import convert
from django.contrib.auth import get_user_model

from pipeline import custom_fields
from pipeline.models import Deal, DealStatus, FieldType, Organization
from pipeline.selectors import weighted_amount_expression, win_probability_expression
from qualification.services import fit_summary

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


def neutralise(value: str) -> str:
    """Text a spreadsheet program shows as text, never evaluates (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def unneutralise(value: str) -> str:
    """The text `neutralise` protected, read back from a file: "'=SUM(A1)" is "=SUM(A1)". Only a
    quote before a formula character is taken off; any other leading quote is the text's own."""
    return value[1:] if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_PREFIXES) else value


@dataclass(frozen=True)
class Column:
    header: Any
    value: Callable[[Any], Any]
    number_format: str | None = None


def _local(dt: datetime | None):
    return timezone.localtime(dt).replace(tzinfo=None) if dt else None


DEAL_COLUMNS = [
    Column(_("ID"), lambda d: d.pk),
    Column(_("Title"), lambda d: d.title),
    Column(_("Company"), lambda d: d.organization.name),
    Column(_("Pipeline"), lambda d: d.pipeline.name),
    Column(_("Stage"), lambda d: d.stage.name),
    Column(_("Status"), lambda d: str(d.get_status_display())),
    Column(_("Amount"), lambda d: d.amount, "#,##0.00"),
    Column(_("Currency"), lambda d: d.currency),
    Column(_("Probability (%)"), lambda d: d.win_probability),
    Column(_("Weighted amount"), lambda d: d.weighted_amount.quantize(Decimal("0.01")), "#,##0.00"),
    Column(_("Expected close"), lambda d: d.expected_close, "yyyy-mm-dd"),
    Column(_("Owner"), lambda d: str(d.owner)),
    Column(_("Next step"), lambda d: d.next_step),
    Column(_("Fit score"), lambda d: d.organization.fit_score),
    Column(_("In stage since"), lambda d: _local(d.stage_entered_at), "yyyy-mm-dd hh:mm"),
    Column(_("Created"), lambda d: _local(d.created_at), "yyyy-mm-dd hh:mm"),
]

ORGANIZATION_COLUMNS = [
    Column(_("ID"), lambda organization: organization.pk),
    Column(_("Company"), lambda organization: organization.name),
    Column(_("Fit score"), lambda organization: organization.fit_score),
    Column(_("Fit: matched criteria"), lambda organization: fit_summary(organization.fit_explanation) if organization.fit_score is not None else ""),
    Column(_("Industry"), lambda organization: organization.industry),
    Column(_("Company size"), lambda organization: organization.company_size),
    Column(_("Country"), lambda organization: organization.country),
    Column(_("Website"), lambda organization: organization.website),
    Column(_("Source"), lambda organization: str(organization.get_source_display())),
    Column(_("Contact person"), lambda organization: organization.contact_name),
    Column(_("Contact e-mail"), lambda organization: organization.contact_email),
    Column(_("Contact phone"), lambda organization: organization.contact_phone),
    Column(_("Owner"), lambda organization: str(organization.owner) if organization.owner_id else ""),
    Column(_("Created"), lambda organization: _local(organization.created_at), "yyyy-mm-dd hh:mm"),
]


def custom_columns(kind: str) -> list[Column]:
    """A column per custom field of `kind`, headed by its label and key (so that the file imports
    again): numbers and money as numbers, dates as dates, yes/no as yes/no in the reader's
    language, multiple choices separated by semicolons, users by name (read once, on first use)."""
    fields = custom_fields.definitions(kind)
    users: dict = {}

    def user_name(value):
        if not users and value is not None:
            users.update({u.pk: str(u) for u in get_user_model().objects.all()})
        return users.get(value, "" if value is None else str(value))

    def value(field, record):
        raw = (record.custom or {}).get(field.key)
        if raw is None:
            return None
        kind = field.field_type
        if kind == FieldType.MONEY:
            return Decimal(str(raw)).quantize(Decimal("0.01"))
        if kind == FieldType.NUMBER:
            return Decimal(str(raw))
        if kind == FieldType.DATE:
            return date.fromisoformat(raw)
        if kind == FieldType.MULTI_CHOICE:
            return "; ".join(raw)
        if kind == FieldType.USER:
            return user_name(raw)
        if kind == FieldType.BOOLEAN:
            return str(_("yes") if raw else _("no"))
        return str(raw)

    return [
        Column(
            format_lazy("{label} [{key}]", label=field.name, key=field.key),
            lambda record, field=field: value(field, record),
            "#,##0.00" if field.field_type == FieldType.MONEY else "yyyy-mm-dd" if field.field_type == FieldType.DATE else None,
        )
        for field in fields
    ]


def organization_columns() -> list[Column]:
    return [*ORGANIZATION_COLUMNS, *custom_columns("organization")]


def deal_columns(*, today: date | None = None) -> list[Column]:
    """DEAL_COLUMNS and each deal's amount in the reporting currency (currencies.rates: an open
    deal at today's rate, a won one at the rate of its close date) with the rate used; a deal
    without a rate has no converted amount and says so in the rate's column."""
    rules = rates.Rates(today=today)

    def rate(deal):
        if not hasattr(deal, "_rate_used"):
            found = (deal.rate, deal.rate_on)
            if deal.status == DealStatus.WON:
                deal._rate_used = rules.for_won(deal.currency, deal.rate_day, found)
            else:
                deal._rate_used = rules.for_open(deal.currency, found, getattr(deal, "budget_rate", None))
        return deal._rate_used

    def converted(deal, value):
        used = rate(deal)
        return None if value is None or used is None else convert(value, used, rules.currency)

    currency = rules.currency
    return [
        *DEAL_COLUMNS,
        Column(
            format_lazy(_("Amount in {currency}"), currency=currency), lambda d: converted(d, d.amount), "#,##0.00"
        ),
        Column(
            format_lazy(_("Weighted amount in {currency}"), currency=currency),
            lambda d: converted(d, d.weighted_amount), "#,##0.00",
        ),
        Column(
            _("Exchange rate"),
            lambda d: (rate(d).normalize() if rate(d) is not None else str(_("no rate"))) if d.amount is not None else None,
        ),
        *custom_columns("deal"),
    ]


def deals_for_export(deals: QuerySet[Deal], *, today: date | None = None) -> Iterator[Deal]:
    """The deals with what the columns show, in one query: their weighted amount, and the rate
    that converts them (currencies.rates.rate_annotations, per deal)."""
    today = today or timezone.localdate()
    deals = deals.annotate(
        win_probability=win_probability_expression(), weighted_amount=weighted_amount_expression(),
        rate_day=rates.rate_day_expression(today),
    ).annotate(**rates.rate_annotations(today=today))  # fmt: skip
    return deals.select_related("organization", "owner", "stage", "pipeline").order_by("stage__position", "-stage_entered_at", "-pk").iterator(chunk_size=CHUNK_SIZE)


def organizations_for_export(organizations: QuerySet[Organization]) -> Iterator[Organization]:
    return organizations.select_related("owner", "main_contact").iterator(chunk_size=CHUNK_SIZE)


# --- CSV ---------------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


@dataclass(frozen=True)
class CsvStyle:
    """How a CSV file writes its fields and decimals. Spreadsheets open a CSV with the separators of
    the reader's language: German Excel expects "1234,50" in fields separated by semicolons and
    shows a comma-separated file as one column."""

    delimiter: str
    decimal: str

    @classmethod
    def for_language(cls) -> "CsvStyle":
        """The active language's style: a decimal comma goes with semicolons."""
        return SEMICOLON if formats.get_format("DECIMAL_SEPARATOR") == "," else COMMA


COMMA = CsvStyle(delimiter=",", decimal=".")
SEMICOLON = CsvStyle(delimiter=";", decimal=",")
CSV_STYLES = {"comma": COMMA, "semicolon": SEMICOLON}


def _csv_value(value, style: CsvStyle = COMMA) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", style.decimal)
    return value


def csv_lines(columns: list[Column], objects: Iterable, *, style: CsvStyle = COMMA) -> Iterator[str]:
    """CSV text, one line at a time (for a streaming response). Starts with a UTF-8 BOM so that
    Excel reads umlauts right."""
    writer = csv.writer(_Echo(), delimiter=style.delimiter)
    yield "\ufeff" + writer.writerow([neutralise(str(c.header)) for c in columns])
    for obj in objects:
        yield writer.writerow([_csv_value(c.value(obj), style) for c in columns])


# --- Excel -------------------------------------------------------------------------------------


def _xlsx_cell(sheet, value, number_format: str | None):
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=None)
        # Assigning the value would turn "=…" into a formula; a string cell is shown as typed.
        cell._value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
        return cell
    cell = WriteOnlyCell(sheet, value=value)
    if number_format and value is not None:
        cell.number_format = number_format
    return cell


def xlsx_bytes(columns: list[Column], objects: Iterable, *, title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([_xlsx_cell(sheet, str(c.header), None) for c in columns])
    for obj in objects:
        sheet.append([_xlsx_cell(sheet, c.value(obj), c.number_format) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
