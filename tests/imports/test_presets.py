"""The exports of the CRMs teams usually leave are recognised by their header rows and mapped as
those CRMs name their columns; the previous CRM's deal ID keeps a second import from creating the
same deals twice."""
from datetime import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportJob, ImportStatus
from imports.presets import PRESETS, preset_detect
from imports.services import TARGETS, import_commit, import_preview, mapping_guess
from pipeline.models import Deal

from .conftest import csv_bytes

pytestmark = pytest.mark.django_db

PIPEDRIVE = ["Deal - ID", "Deal - Title", "Deal - Organization", "Deal - Value", "Deal - Currency", "Deal - Stage",
             "Deal - Status", "Deal - Owner", "Deal - Expected close date", "Deal - Deal created",
             "Deal - Deal closed on", "Deal - Lost reason", "Person - Name", "Person - Email"]
ODOO = ["ID", "Opportunity", "Customer", "Expected Revenue", "Stage", "Salesperson", "Expected Closing", "Created on",
        "Lost Reason", "Probability", "Country"]


def test_every_preset_maps_to_fields_the_wizard_has():
    for preset in PRESETS:
        names = {t.name for t in TARGETS[preset.kind]}
        assert set(preset.columns.values()) <= names, preset.key
        assert len(set(preset.columns.values())) == len(preset.columns), f"{preset.key} maps a field twice"


@pytest.mark.parametrize("headers, crm", [(PIPEDRIVE, "pipedrive"), (ODOO, "odoo")])
def test_an_export_is_recognised_and_mapped_as_its_crm_names_the_columns(headers, crm):
    assert preset_detect("deals", headers).key == crm
    mapping = mapping_guess("deals", headers)
    assert len(mapping) == len(headers)  # every column found its field
    by_header = {headers[index]: field for field, index in mapping.items()}
    if crm == "pipedrive":
        assert by_header["Deal - Organization"] == "company" and by_header["Deal - Deal created"] == "created_at"
        assert by_header["Deal - Deal closed on"] == "closed_at" and by_header["Deal - ID"] == "external_id"
    else:
        assert (by_header["Expected Revenue"], by_header["Salesperson"], by_header["Customer"]) == (
            "amount", "owner", "company")


def test_a_file_of_a_few_common_headers_is_nobodys_export():
    assert preset_detect("deals", ["Title", "Company", "Amount", "Stage"]) is None
    assert preset_detect("organizations", PIPEDRIVE) is None  # presets are of deals exports
    # Half the file's columns must be the CRM's own.
    assert preset_detect("deals", ["Deal Name", "Amount", "Stage", "Close Date", *[f"Custom {i}" for i in range(6)]]) is None


def test_the_mapping_page_says_which_export_it_recognised(client, rep, pipeline):
    client.force_login(rep)
    data = csv_bytes(",".join(PIPEDRIVE), "17,Rollout,Nordlicht GmbH,1000,EUR,Qualification,open,,12/31/2026,11/02/2026,,,,")
    response = client.post(reverse("imports:upload"), {"kind": "deals", "pipeline": pipeline.pk,
                                                       "file": SimpleUploadedFile("deals.csv", data)})
    page = client.get(response["Location"]).content.decode()
    assert 'id="sf-import-preset"' in page and "Pipedrive" in page


@time_machine.travel(datetime(2026, 12, 7, 12, 0, tzinfo=timezone.get_fixed_timezone(0)), tick=False)
def test_a_second_import_of_the_same_export_does_not_create_the_deals_twice(make_job, rep, pipeline, stages):
    lines = [
        "Opportunity ID,Opportunity Name,Account Name,Amount,Stage,Close Date,Created Date",
        "006A1,Rollout,Nordlicht GmbH,1000,Qualification,2026-12-31,2026-11-02",
        "006A2,Renewal,Nordlicht GmbH,2000,Qualification,2026-12-31,2026-11-03",
    ]
    first = make_job(rep, csv_bytes(*lines), kind="deals", pipeline=pipeline)
    assert first.mapping["external_id"] == 0
    import_commit(first)
    first.refresh_from_db()
    assert first.status == ImportStatus.DONE and set(Deal.objects.values_list("external_id", flat=True)) == {"006A1", "006A2"}

    again = make_job(rep, csv_bytes(*lines, "006A3,Upsell,Nordlicht GmbH,500,Qualification,2026-12-31,2026-11-20"),
                     kind="deals", pipeline=pipeline)
    preview = import_preview(again)
    assert [r.skip for r in preview.rows] == [True, True, False]
    assert preview.rows[0].duplicate.startswith("Imported before (ID “006A1”)")
    import_commit(again)
    again.refresh_from_db()
    assert (again.status, again.created_deals, again.skipped_rows) == (ImportStatus.DONE, 1, 2)
    assert Deal.objects.count() == 3 and Deal.objects.filter(external_id="006A1").count() == 1


def test_an_id_twice_in_one_file_is_a_problem_of_the_later_row(make_job, rep, pipeline, stages):
    job = make_job(rep, csv_bytes(
        "Opportunity ID,Opportunity Name,Account Name,Stage",
        "7,Rollout,Nordlicht GmbH,Qualification",
        "7,Rollout again,Nordlicht GmbH,Qualification",
    ), kind="deals", pipeline=pipeline)
    preview = import_preview(job)
    assert not preview.rows[0].errors
    assert preview.rows[1].errors == ["The ID “7” appears twice in this file (first on line 2)."]
    assert not ImportJob.objects.exclude(pk=job.pk).exists()
