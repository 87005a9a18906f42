"""Reading a file of exchange rates: one rate a line, with a header naming the columns currency,
date and rate (German headers Währung, Datum, Kurs too), separated by commas, semicolons or tabs.
Dates as 2025-01-31 or 31.01.2025; rates as 0.92 or 0,92 (what one unit of the currency is worth
in the reporting currency). Every bad line is reported with its number; a file with any bad line
writes nothing (services.exchange_rates_import is all or nothing)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime

from django.utils.translation import gettext as _

from .services import RateRefused, RateRow, currency_code_clean, rate_clean

MAX_LINES = 100_000
HEADERS = {
    "currency": "currency", "währung": "currency", "waehrung": "currency", "code": "currency",
    "date": "day", "day": "day", "datum": "day", "tag": "day",
    "rate": "rate", "kurs": "rate", "wechselkurs": "rate",
}  # fmt: skip
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")
MAX_REPORTED = 20


class RatesFileInvalid(Exception):
    """The file cannot be imported; `errors` says why, line by line (at most MAX_REPORTED)."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _text(data) -> str:
    if isinstance(data, bytes):
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    return str(data).lstrip("\ufeff")


def _day(value: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def rates_from_csv(data) -> list[RateRow]:
    """The rates of a CSV file (bytes or text), or RatesFileInvalid listing every bad line."""
    text = _text(data)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RatesFileInvalid([_("The file is empty.")])
    if len(lines) > MAX_LINES + 1:
        raise RatesFileInvalid([_("The file has more than %(max)s lines.") % {"max": f"{MAX_LINES:,}"}])
    first = lines[0]
    delimiter = max((";", "\t", ","), key=first.count)
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [HEADERS.get(name.strip().lower()) for name in next(reader)]
    absent = [name for name in ("currency", "day", "rate") if name not in header]
    if absent:
        raise RatesFileInvalid(
            [_("The first line must name the columns currency, date and rate (e.g. “currency,date,rate”).")]
        )
    column = {name: header.index(name) for name in ("currency", "day", "rate")}
    rows, errors, seen = [], [], {}
    for number, fields in enumerate(reader, start=2):
        values = {name: fields[i].strip() if i < len(fields) else "" for name, i in column.items()}
        problems = []
        try:
            currency = currency_code_clean(values["currency"])
        except RateRefused as refusal:
            problems.append(str(refusal.message))
            currency = None
        day = _day(values["day"])
        if day is None:
            problems.append(
                _("“%(value)s” is not a date (write 2025-01-31 or 31.01.2025).") % {"value": values["day"]}
            )
        try:
            rate = rate_clean(values["rate"])
        except RateRefused as refusal:
            problems.append(str(refusal.message))
            rate = None
        if not problems:
            key = (currency, day)
            if key in seen:
                problems.append(
                    _("%(currency)s on %(day)s is also on line %(line)s.")
                    % {"currency": currency, "day": day.isoformat(), "line": seen[key]}
                )
            seen[key] = number
        if problems:
            errors.append(_("Line %(line)s: %(problems)s") % {"line": number, "problems": " ".join(problems)})
        else:
            rows.append(RateRow(currency=currency, day=day, rate=rate))
    if errors:
        shown = errors[:MAX_REPORTED]
        if len(errors) > MAX_REPORTED:
            shown.append(_("… and %(count)s more lines with errors.") % {"count": len(errors) - MAX_REPORTED})
        raise RatesFileInvalid(shown)
    if not rows:
        raise RatesFileInvalid([_("The file has no rates below its header.")])
    return rows
