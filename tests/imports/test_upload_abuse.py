"""Uploads built to exhaust the server: zip bombs, millions of cells, giant cells; and text files
that are fine but unusual (UTF-16 without a byte-order mark)."""
import io
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports import parsing
from imports.models import ImportJob
from imports.parsing import FileRefused, parse_bytes
from tests.imports.conftest import csv_bytes, xlsx_bytes

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""


def _cell(value: str) -> str:
    return f'<c t="inlineStr"><is><t>{value}</t></is></c>'


def hand_made_xlsx(rows, *, dimension: str | None = None, repeat_last: int = 1, giant_cell_chars: int = 0) -> bytes:
    """A minimal .xlsx written part by part and streamed, so that a test can build a workbook of
    hundreds of megabytes (unpacked) in a few hundred kilobytes of zip, quickly. `rows` are lists
    of cell texts (inline strings, without cell references, which Excel's format allows); the last
    row is written `repeat_last` times; `giant_cell_chars` adds a row with a cell that long."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            encoded = [f"<row>{''.join(_cell(value) for value in row)}</row>".encode() for row in rows]
            for row in encoded[:-1]:
                sheet.write(row)
            for _ in range(repeat_last):
                sheet.write(encoded[-1])
            if giant_cell_chars:
                sheet.write(b'<row><c t="inlineStr"><is><t>Acme</t></is></c><c t="inlineStr"><is><t>')
                chunk = b"z" * 1_000_000
                for start in range(0, giant_cell_chars, len(chunk)):
                    sheet.write(chunk[: giant_cell_chars - start])
                sheet.write(b"</t></is></c></row>")
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def parse(data: bytes, filename="organizations.xlsx", max_rows=20_000):
    return parse_bytes(data, filename=filename, max_rows=max_rows)


def unpacked_size(data: bytes) -> int:
    return sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """About 190 MB of sheet XML (1.9 million cells) in a few hundred kilobytes."""
    return hand_made_xlsx([["Company", *["Note"] * 94], ["x" * 60] * 95], repeat_last=20_000)


def test_the_hand_made_workbook_is_read_like_one_from_excel():
    parsed = parse(hand_made_xlsx([["Company", "City"], ["Müller GmbH", "Köln"]]))
    assert parsed.headers == ["Company", "City"] and parsed.rows == [["Müller GmbH", "Köln"]]


def test_a_small_workbook_that_unpacks_to_190_mb_is_refused_at_once(zip_bomb):
    assert len(zip_bomb) < 1024 * 1024 and unpacked_size(zip_bomb) > 180_000_000
    started = time.monotonic()
    with pytest.raises(FileRefused) as err:
        parse(zip_bomb)
    assert "too large once unpacked" in str(err.value.message)
    assert time.monotonic() - started < 5


def test_a_workbook_of_too_many_cells_is_refused_by_its_declared_size_before_reading_the_cells():
    data = hand_made_xlsx([["Company", "City"], ["A", "B"]], dimension="A1:CV20000")
    with pytest.raises(FileRefused) as err:
        parse(data)
    assert "cells" in str(err.value.message) and f"{parsing.MAX_CELLS:,}" in str(err.value.message)


def test_a_workbook_of_too_many_cells_is_refused_while_reading_when_it_declares_no_size(monkeypatch):
    monkeypatch.setattr(parsing, "MAX_CELLS", 1_000)
    data = hand_made_xlsx([["Company", *["Note"] * 19], ["y"] * 20], repeat_last=60)
    with pytest.raises(FileRefused) as err:
        parse(data)
    assert "1,000 cells" in str(err.value.message)


def test_a_workbook_at_the_cell_limit_is_read(monkeypatch):
    monkeypatch.setattr(parsing, "MAX_CELLS", 1_000)
    data = hand_made_xlsx([["Company", *["Note"] * 9], ["y"] * 10], repeat_last=99)
    assert len(parse(data).rows) == 99


def test_a_giant_cell_in_a_small_workbook_is_refused_with_its_place():
    data = hand_made_xlsx([["Company", "Note"]], giant_cell_chars=parsing.MAX_CELL_CHARS + 1)
    with pytest.raises(FileRefused) as err:
        parse(data)
    message = str(err.value.message)
    assert "row 2, column 2" in message and f"{parsing.MAX_CELL_CHARS:,}" in message


def test_a_150_mb_cell_in_a_small_workbook_is_refused():
    data = hand_made_xlsx([["Company", "Note"]], giant_cell_chars=150_000_000)
    assert len(data) < 1024 * 1024
    with pytest.raises(FileRefused):
        parse(data)


def test_a_csv_with_a_1_mb_cell_is_refused_with_a_clear_message():
    with pytest.raises(FileRefused) as err:
        parse(b'Company,Note\nAcme,"' + b"x" * 1_000_000 + b'"\n', filename="organizations.csv")
    message = str(err.value.message)
    assert "field limit" not in message
    assert "row 2" in message and f"{parsing.MAX_CELL_CHARS:,}" in message


def test_a_csv_cell_just_over_the_limit_is_refused_with_its_place():
    with pytest.raises(FileRefused) as err:
        parse(b"Company,Note\nAcme," + b"x" * (parsing.MAX_CELL_CHARS + 1) + b"\n", filename="organizations.csv")
    assert "row 2, column 2" in str(err.value.message)


def test_a_csv_cell_at_the_limit_is_read():
    parsed = parse(b"Company,Note\nAcme," + b"x" * parsing.MAX_CELL_CHARS + b"\n", filename="organizations.csv")
    assert len(parsed.rows[0][1]) == parsing.MAX_CELL_CHARS


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(encoding):
    parsed = parse("Company;City\nMüller GmbH;Köln\nÖl AG;Wien\n".encode(encoding), filename="organizations.csv")
    assert parsed.encoding == "UTF-16" and parsed.rows == [["Müller GmbH", "Köln"], ["Öl AG", "Wien"]]


@pytest.mark.django_db
def test_mapping_and_preview_pages_show_a_bounded_preview_of_long_cells(client, rep):
    client.force_login(rep)
    long_name = "Acme " + "w" * (parsing.MAX_CELL_CHARS - 10)
    client.post(reverse("imports:upload"), {
        "kind": "organizations", "file": SimpleUploadedFile("organizations.csv", csv_bytes("Company," + "H" * 5000, f"{long_name},x")),
    })
    job = ImportJob.objects.get()
    mapping = client.get(reverse("imports:mapping", args=[job.pk]))
    assert mapping.status_code == 200 and "Acme www" in mapping.content.decode()
    assert "w" * 300 not in mapping.content.decode() and "H" * 300 not in mapping.content.decode()
    client.post(reverse("imports:mapping", args=[job.pk]), {"name": "0"})
    preview = client.get(reverse("imports:preview", args=[job.pk]))
    assert preview.status_code == 200 and "Acme www" in preview.content.decode()
    assert "w" * 300 not in preview.content.decode()
