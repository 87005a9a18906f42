"""Reading uploaded files: encodings, delimiters, Excel, and every kind of malformed file."""
import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from imports.parsing import FileRefused, parse_bytes, parse_upload
from tests.imports.conftest import csv_bytes, xlsx_bytes


def parse(data: bytes, filename="organizations.csv", max_rows=100):
    return parse_bytes(data, filename=filename, max_rows=max_rows)


def test_utf8_with_bom_is_read_and_reported():
    parsed = parse(b"\xef\xbb\xbf" + "Company;City\nMüller GmbH;Köln\n".encode())
    assert parsed.encoding == "UTF-8 (with BOM)"
    assert parsed.headers == ["Company", "City"]  # the BOM is not part of the first header
    assert parsed.rows == [["Müller GmbH", "Köln"]]
    assert parsed.delimiter == ";"


def test_windows_1252_is_recognised_when_utf8_fails():
    parsed = parse(csv_bytes("Company,Note", "Müller GmbH,Preis in €", encoding="cp1252"))
    assert parsed.encoding == "Windows-1252"
    assert parsed.rows == [["Müller GmbH", "Preis in €"]]


def test_latin1_is_the_last_resort():
    # 0x81 is undefined in Windows-1252, so only Latin-1 can read this file.
    parsed = parse(b"Company,Code\nA\xfc\x81 AG,1\n")
    assert parsed.encoding == "ISO-8859-1 (Latin-1)"
    assert parsed.rows[0][0].startswith("Aü")


def test_utf16_from_excel_unicode_text_is_read():
    parsed = parse("Company\tCountry\nÖl AG\tAT\n".encode("utf-16"))
    assert parsed.encoding == "UTF-16" and parsed.rows == [["Öl AG", "AT"]]


@pytest.mark.parametrize("garbage", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01",
    bytes(range(256)) * 20,
    b"%PDF-1.4\n" + bytes([0x8F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07] * 200),
])
def test_binary_garbage_is_refused_with_a_clear_message(garbage):
    with pytest.raises(FileRefused) as err:
        parse(garbage)
    assert "does not look like a CSV text file" in str(err.value.message)


def test_old_xls_is_refused():
    with pytest.raises(FileRefused) as err:
        parse(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, filename="organizations.xls")
    assert ".xls" in str(err.value.message)


def test_a_text_file_named_xlsx_is_refused():
    with pytest.raises(FileRefused) as err:
        parse(csv_bytes("Company", "A"), filename="organizations.xlsx")
    assert "not one" in str(err.value.message)


def test_a_broken_zip_is_not_an_excel_workbook():
    with pytest.raises(FileRefused) as err:
        parse(b"PK\x03\x04" + b"broken" * 50, filename="organizations.xlsx")
    assert "could not be read as an Excel workbook" in str(err.value.message)


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"\xef\xbb\xbf", b",,,\n,,,\n"])
def test_empty_files_are_refused(data):
    with pytest.raises(FileRefused) as err:
        parse(data)
    assert str(err.value.message) == "The file is empty."


def test_a_header_without_rows_is_refused():
    with pytest.raises(FileRefused) as err:
        parse(csv_bytes("Company,Industry"))
    assert "no data rows" in str(err.value.message)


def test_too_many_rows_are_refused_with_the_limit():
    with pytest.raises(FileRefused) as err:
        parse(csv_bytes("Company", *[f"C{i}" for i in range(11)]), max_rows=10)
    assert "11 rows; up to 10 rows" in str(err.value.message)


def test_a_file_over_the_size_limit_is_refused_before_reading_it():
    upload = SimpleUploadedFile("big.csv", b"Company\n" + b"A very long company name\n" * 1000)
    with pytest.raises(FileRefused) as err:
        parse_upload(upload, max_bytes=10_000, max_rows=100_000)
    assert "files up to 9.8\xa0KB can be imported" in str(err.value.message)


def test_short_rows_are_padded_long_rows_cut_blank_lines_dropped():
    parsed = parse(csv_bytes("Company,Industry,Country", "A", "", "B,Retail,DE,extra"))
    assert parsed.rows == [["A", "", ""], ["B", "Retail", "DE"]]


def test_blank_headers_get_a_name():
    parsed = parse(csv_bytes("Company,,Country", "A,x,DE"))
    assert parsed.headers == ["Company", "Column 2", "Country"]


def test_quoted_cells_with_delimiters_and_newlines():
    parsed = parse(b'Company,Note\n"Smith, Jones & Co","line one\nline two"\n')
    assert parsed.rows == [["Smith, Jones & Co", "line one\nline two"]]


def test_excel_cells_become_text_dates_and_numbers_without_noise():
    data = xlsx_bytes([["Company", "Amount", "Close", "Employees"], ["Acme", 1234.5, date(2026, 3, 4), 42],
                       ["Beta", 0.1 + 0.2, None, None]])
    parsed = parse(data, filename="deals.xlsx")
    assert parsed.file_format == "xlsx" and parsed.encoding == ""
    assert parsed.rows == [["Acme", "1234.5", "2026-03-04", "42"], ["Beta", "0.3", "", ""]]


def test_excel_formulas_are_never_evaluated():
    workbook = Workbook()
    workbook.active.append(["Company", "Note"])
    workbook.active.append(["Acme", '=HYPERLINK("http://evil.example","click")'])
    workbook.active.append(["=1+1", "plain"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = parse(buffer.getvalue(), filename="organizations.xlsx")
    # A workbook not saved by Excel has no computed values: the formula cells are simply empty.
    assert parsed.rows == [["Acme", ""], ["", "plain"]]


def test_excel_row_limit():
    data = xlsx_bytes([["Company"], *[[f"C{i}"] for i in range(20)]])
    with pytest.raises(FileRefused) as err:
        parse(data, filename="x.xlsx", max_rows=10)
    assert "more than 10 rows" in str(err.value.message)


def test_a_workbook_that_unpacks_to_a_huge_size_is_refused(monkeypatch):
    from imports import parsing

    data = xlsx_bytes([["Company"], *[["x" * 200] for _ in range(200)]])
    monkeypatch.setattr(parsing, "MAX_UNPACKED_XLSX", 20_000)
    with pytest.raises(FileRefused) as err:
        parse(data, filename="bomb.xlsx")
    assert "too large once unpacked" in str(err.value.message)


def test_a_csv_cell_over_the_field_limit_is_refused_cleanly():
    with pytest.raises(FileRefused) as err:
        parse(b'Company,Note\nA,"' + b"x" * 200_000 + b'"\n')
    assert "A cell in row 2 holds more than" in str(err.value.message)
