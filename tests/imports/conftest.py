import io

import pytest
from openpyxl import Workbook

from imports import services
from imports.parsing import parse_bytes


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def make_job():
    def make(user, data: bytes, *, kind="organizations", pipeline=None, filename="upload.csv", mapping=None):
        parsed = parse_bytes(data, filename=filename, max_rows=20_000)
        job = services.job_create(user=user, kind=kind, parsed=parsed, filename=filename, pipeline=pipeline)
        if mapping is not None:
            job.mapping = mapping
            job.save()
        return job
    return make


@pytest.fixture(autouse=True)
def celery_in_process(monkeypatch):
    """These tests run the tasks in-process, also when REDIS_URL points the suite at a real broker
    (tests/integration/ sends them to a worker instead)."""
    from config.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
