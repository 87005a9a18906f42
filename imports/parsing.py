"""Reading an uploaded CSV or Excel file into a header row and data rows of text.

Refuses, with a message a rep understands: empty files, files over the size or row limit, old
binary .xls files, binary garbage, workbooks that cannot be read, workbooks that unpack to too
much or hold too many cells (checked before their cells are read, and again while reading), and
cells longer than MAX_CELL_CHARS. Text files are decoded as UTF-8 (with or without BOM), UTF-16
(with BOM, or without when every other byte is zero), then Windows-1252, then Latin-1; the
encoding used is reported so that the user can check umlauts in the preview.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

MAX_COLUMNS = 100
# Reading a workbook takes far longer per cell than reading a CSV (about 50,000 cells a second
# here), and happens while the person waits for the upload: these bound it to a few seconds. A
# workbook of 20,000 rows of 12 columns unpacks to about 14 MB.
MAX_UNPACKED_XLSX = 50 * 1024 * 1024
MAX_CELLS = 250_000
# Longer than any field a lead or deal has; Python's csv module stops at 131,072 anyway.
MAX_CELL_CHARS = 10_000
# What the mapping and preview pages show of a cell (the templates use the same 80).
PREVIEW_CHARS = 80
SNIFF_CHARS = 20_000
# Share of control characters above which decoded "text" is taken for binary data.
MAX_CONTROL_SHARE = 0.002


class FileRefused(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class ParsedFile:
    headers: list[str]
    rows: list[list[str]]
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    notes: list[str] = field(default_factory=list)


def parse_upload(upload, *, max_bytes: int, max_rows: int) -> ParsedFile:
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise FileRefused(_too_big(size, max_bytes))
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(_too_big(len(data), max_bytes))
    return parse_bytes(data, filename=getattr(upload, "name", "") or "", max_rows=max_rows)


def _too_big(size: int, limit: int) -> str:
    return _("This file is %(size)s; files up to %(limit)s can be imported. Split it into smaller files.") % {
        "size": filesizeformat(size), "limit": filesizeformat(limit),
    }


def parse_bytes(data: bytes, *, filename: str = "", max_rows: int) -> ParsedFile:
    if not data.strip():
        raise FileRefused(_("The file is empty."))
    if data.startswith(b"PK\x03\x04"):
        parsed = _parse_xlsx(data, max_rows=max_rows)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(_("Old Excel files (.xls) cannot be read. Save the file as .xlsx or CSV and upload it again."))
    else:
        if filename.lower().endswith((".xlsx", ".xlsm")):
            raise FileRefused(_("This file is named like an Excel workbook but is not one. Save it again as .xlsx or CSV."))
        parsed = _parse_csv(data, max_rows=max_rows)
    return _finish(parsed, max_rows=max_rows)


def _finish(parsed: ParsedFile, *, max_rows: int) -> ParsedFile:
    rows = [row for row in parsed.rows if any((cell or "").strip() for cell in row)]
    if not rows:
        raise FileRefused(_("The file is empty."))
    headers, *rows = rows
    if len(headers) > MAX_COLUMNS:
        raise FileRefused(_("The file has %(n)s columns; up to %(max)s can be imported.") % {"n": len(headers), "max": MAX_COLUMNS})
    if not rows:
        raise FileRefused(_("The file has a header row but no data rows."))
    if len(rows) > max_rows:
        raise FileRefused(
            _("The file has %(n)s rows; up to %(max)s rows can be imported at once. Split it into smaller files.")
            % {"n": f"{len(rows):,}", "max": f"{max_rows:,}"}
        )
    headers = [(h or "").strip() or _("Column %(n)s") % {"n": i + 1} for i, h in enumerate(headers)]
    width = len(headers)
    parsed.headers = headers
    parsed.rows = [[(cell or "").strip() for cell in row[:width]] + [""] * (width - len(row)) for row in rows]
    return parsed


# --- CSV -------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    if (utf16 := _utf16_without_bom(data)) is not None:
        try:
            return data.decode(utf16), "UTF-16"
        except UnicodeDecodeError:
            pass
    if b"\x00" in data:
        raise FileRefused(_("This file does not look like a CSV text file or an Excel workbook (.xlsx). Check that you chose the right file."))
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (with BOM)"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "ISO-8859-1 (Latin-1)"


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 saved without a byte-order mark: text in Latin script has a zero byte in every
    other place (after each character in little-endian, before it in big-endian)."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_zeros, odd_zeros = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > half * 0.3 and even_zeros < half * 0.05:
        return "utf-16-le"
    if even_zeros > half * 0.3 and odd_zeros < half * 0.05:
        return "utf-16-be"
    return None


def _cell_too_long(row_number: int, column_number: int | None = None) -> FileRefused:
    values = {"row": row_number, "column": column_number, "max": f"{MAX_CELL_CHARS:,}"}
    if column_number is None:
        message = _("A cell in row %(row)s holds more than %(max)s characters, the most a cell may hold. "
                    "Shorten it and upload the file again.")
    else:
        message = _("The cell in row %(row)s, column %(column)s holds more than %(max)s characters, the most a "
                    "cell may hold. Shorten it and upload the file again.")
    return FileRefused(message % values)


def _looks_binary(text: str) -> bool:
    sample = text[:SNIFF_CHARS * 5]
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or 0x7F <= ord(ch) <= 0x9F)
    return controls > max(2, len(sample) * MAX_CONTROL_SHARE)


def _delimiter(text: str) -> str:
    sample = "\n".join(text[:SNIFF_CHARS].splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _parse_csv(data: bytes, *, max_rows: int) -> ParsedFile:
    text, encoding = _decode(data)
    if _looks_binary(text):
        raise FileRefused(_("This file does not look like a CSV text file or an Excel workbook (.xlsx). Check that you chose the right file."))
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []  # bounded by the size limit
    try:
        for row in reader:
            for column, cell in enumerate(row, start=1):
                if len(cell) > MAX_CELL_CHARS:
                    raise _cell_too_long(len(rows) + 1, column)
            rows.append(row)
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            # The csv module stops at 131,072 characters without saying in which column.
            raise _cell_too_long(len(rows) + 1) from err
        raise FileRefused(_("The CSV file could not be read (%(error)s).") % {"error": err})
    return ParsedFile(headers=[], rows=rows, file_format="csv", encoding=encoding, delimiter=delimiter)


# --- Excel -----------------------------------------------------------------------------------


def cell_text(value) -> str:
    """An Excel cell as text: dates as YYYY-MM-DD, numbers without float noise, formulas never run."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0, 0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def _too_many_cells() -> FileRefused:
    return FileRefused(
        _("This workbook has more than %(max)s cells, the most an Excel file may have here. Save it as CSV "
          "(which may be larger) or split it into smaller files.") % {"max": f"{MAX_CELLS:,}"}
    )


def _parse_xlsx(data: bytes, *, max_rows: int) -> ParsedFile:
    from openpyxl import load_workbook

    try:
        unpacked = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise FileRefused(_("This file could not be read as an Excel workbook (.xlsx).")) from err
    if unpacked > MAX_UNPACKED_XLSX:
        # A small file that unpacks to gigabytes (a "zip bomb") would exhaust the memory.
        raise FileRefused(_("This workbook is too large once unpacked. Save it as CSV or split it into smaller files."))
    try:
        # data_only: a formula cell gives the value Excel last computed, never the formula.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as err:
        raise FileRefused(_("This file could not be read as an Excel workbook (.xlsx).")) from err
    except Exception as err:  # openpyxl raises its own errors for malformed parts
        raise FileRefused(_("This file could not be read as an Excel workbook (.xlsx).")) from err
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise FileRefused(_("The workbook has no sheet."))
        # The size the sheet declares (Excel and other writers do): refuse before reading a cell.
        declared_columns = min(sheet.max_column, MAX_COLUMNS + 1) if sheet.max_column else None
        if (sheet.max_row or 0) * (declared_columns or 0) > MAX_CELLS:
            raise _too_many_cells()
        rows, cells = [], 0
        # openpyxl pads each row to the declared width (or, without one, to the row's last cell):
        # the padding is work too, so it counts.
        for values in sheet.iter_rows(values_only=True, max_col=declared_columns):
            cells += len(values)
            if cells > MAX_CELLS:  # the declared size may be missing or wrong
                raise _too_many_cells()
            row = [cell_text(v) for v in values[:MAX_COLUMNS + 1]]
            for column, text in enumerate(row, start=1):
                if len(text) > MAX_CELL_CHARS:
                    raise _cell_too_long(len(rows) + 1, column)
            rows.append(row)
            if len(rows) > max_rows + 1:
                raise FileRefused(
                    _("The file has more than %(max)s rows; up to %(max)s rows can be imported at once. Split it into smaller files.")
                    % {"max": f"{max_rows:,}"}
                )
    except FileRefused:
        raise
    except Exception as err:
        raise FileRefused(_("This file could not be read as an Excel workbook (.xlsx).")) from err
    finally:
        workbook.close()
    return ParsedFile(headers=[], rows=rows, file_format="xlsx", encoding="", delimiter="")
