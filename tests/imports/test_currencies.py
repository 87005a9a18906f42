"""The import refuses rows in currencies that are not configured, with the row's error."""
import pytest

from imports.services import import_preview
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.django_db


def test_rows_in_unknown_currencies_are_errors(manager, pipeline, make_job):
    data = csv_bytes("Deal,Company,Amount,Currency", "A,Alpha,100,ZZZ", "B,Beta,100,BTC", "C,Gamma,100,ÄÖÜ",
                     "D,Delta,100,usd", "E,Epsilon,100,")
    job = make_job(manager, data, kind="deals", pipeline=pipeline,
                   mapping={"title": 0, "company": 1, "amount": 2, "currency": 3})
    errors = {row.line: row.errors for row in import_preview(job).rows}
    assert all(any("is not" in e and "currenc" in e for e in errors[line]) for line in (2, 3, 4)), errors
    assert errors[5] == [] and errors[6] == []
