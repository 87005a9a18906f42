"""Custom fields in imports: a column per field, found by its label or key, each cell checked by
the field's rules (numbers and dates as the file writes them)."""
import pytest

from pipeline import custom_fields
from pipeline.models import FieldType

pytestmark = pytest.mark.django_db


def define(kind, key, name, field_type):
    return custom_fields.custom_field_create(actor=None, record_kind=kind, key=key, name=name, field_type=field_type)


def test_an_import_fills_custom_columns_and_reports_bad_cells(manager, pipeline, make_job):
    from imports.services import import_commit, import_preview
    from tests.imports.conftest import csv_bytes

    define("organization", "headcount", "Headcount", FieldType.NUMBER)
    data = csv_bytes("Company,Headcount", "Alpha,\"1.200,5\"", "Gamma,\"3,25\"", "Beta,many")
    job = make_job(manager, data)
    assert job.mapping.get("custom.headcount") == 1
    rows = import_preview(job).rows
    assert rows[0].values["custom"] == {"headcount": 1200.5} and rows[0].errors == []
    assert rows[1].values["custom"] == {"headcount": 3.25}
    assert rows[2].errors and "Headcount" in rows[2].errors[0]


def test_an_import_of_deals_fills_deal_fields(manager, pipeline, make_job):
    from imports.services import import_commit, import_preview
    from pipeline.models import Deal
    from tests.imports.conftest import csv_bytes

    define("deal", "renewal", "Renewal", FieldType.DATE)
    job = make_job(manager, csv_bytes("Deal,Company,Renewal [renewal]", "Big one,Alpha,31.12.2026"), kind="deals",
                   pipeline=pipeline)
    preview = import_preview(job)
    assert preview.rows[0].errors == []
    import_commit(job)
    assert Deal.objects.get(title="Big one").custom == {"renewal": "2026-12-31"}




def test_an_import_of_people_fills_person_fields(manager, make_job):
    from imports.services import import_commit, import_preview
    from pipeline.models import Person
    from tests.imports.conftest import csv_bytes

    define("person", "linkedin", "LinkedIn", FieldType.URL)
    job = make_job(manager, csv_bytes("Name,Company,LinkedIn", "Anna Alt,Alpha,https://linkedin.example/in/anna",
                                      "Bert Berg,Alpha,not a link"), kind="people")
    rows = import_preview(job).rows
    assert rows[0].errors == [] and rows[1].errors and "LinkedIn" in rows[1].errors[0]
    job.skip_invalid = True
    job.save()
    import_commit(job)
    assert Person.objects.get(name="Anna Alt").custom == {"linkedin": "https://linkedin.example/in/anna"}
