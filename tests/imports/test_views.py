"""The import pages: upload, mapping, preview, commit and the progress partial."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from imports.models import ImportJob, ImportStatus
from pipeline.models import Deal, Organization
from tests.factories import UserFactory
from tests.imports.conftest import csv_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db

UPLOAD = reverse("imports:upload")


def upload(client, data: bytes, *, name="organizations.csv", kind="organizations", **extra):
    return client.post(UPLOAD, {"kind": kind, "file": SimpleUploadedFile(name, data), **extra})


def proposed(form) -> dict:
    """The value-mapping form as proposed: what a user who agrees with every proposal posts."""
    return {name: field.initial for name, field in form.fields.items() if field.initial}


def proposals(form, section: str | None = None) -> dict:
    return {field.value_text: field.initial for name, field in form.fields.items()
            if hasattr(field, "value_text") and (section is None or name.startswith(section + "__"))}


def test_import_pages_need_sign_in(client):
    assert client.get(UPLOAD).status_code == 302


def test_csv_organizations_from_upload_to_result(client, rep):
    client.force_login(rep)
    response = upload(client, csv_bytes("Firma;Land;Branche", "Müller GmbH;DE;Software", "Öl AG;AT;Energy",
                                        encoding="cp1252"))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("imports:mapping", args=[job.pk])

    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Windows-1252" in body and "Müller GmbH" in body  # the first values, decoded right
    assert page.context["form"]["name"].value() == "0" and page.context["form"]["country"].value() == "1"

    response = client.post(reverse("imports:mapping", args=[job.pk]), {"name": "0", "country": "1", "industry": "2"})
    assert response["Location"] == reverse("imports:values", args=[job.pk])
    page = client.get(response["Location"])
    assert proposals(page.context["form"]) == {"DE": "DE", "AT": "AT"}
    response = client.post(response["Location"], proposed(page.context["form"]))
    assert response["Location"] == reverse("imports:preview", args=[job.pk])
    page = client.get(response["Location"])
    assert page.context["preview"].ok and "Import 2 rows" in page.content.decode()

    response = client.post(reverse("imports:commit", args=[job.pk]))
    assert response["Location"] == reverse("imports:status", args=[job.pk])
    assert sorted(Organization.objects.values_list("name", flat=True)) == ["Müller GmbH", "Öl AG"]
    page = client.get(response["Location"])
    assert "2 leads were imported." in page.content.decode()

    # A second click on "Import" (or a replayed request) imports nothing more.
    client.post(reverse("imports:commit", args=[job.pk]))
    assert Organization.objects.count() == 2


def test_excel_deals_upload(client, manager, pipeline):
    client.force_login(manager)
    data = xlsx_bytes([["Deal", "Company", "Amount", "Close date"], ["Relaunch", "Alpha", 1500.5, "2026-12-01"]])
    upload(client, data, name="deals.xlsx", kind="deals", pipeline=pipeline.pk)
    job = ImportJob.objects.get()
    assert job.file_format == "xlsx" and job.pipeline == pipeline
    client.post(reverse("imports:mapping", args=[job.pk]), {"title": "0", "company": "1", "amount": "2", "expected_close": "3"})
    client.post(reverse("imports:commit", args=[job.pk]))
    deal = Deal.objects.get()
    assert (deal.title, str(deal.amount), deal.owner) == ("Relaunch", "1500.50", manager)


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.csv", "The submitted file is empty."),  # Django's own check comes first
    (b"\n\n", "blank.csv", "The file is empty."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "does not look like a CSV text file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls", "Old Excel files (.xls)"),
    (b"Company\n", "header.csv", "no data rows"),
])
def test_malformed_files_are_refused_on_the_upload_page(client, rep, data, name, message):
    client.force_login(rep)
    response = upload(client, data, name=name)
    assert response.status_code == 200 and message in response.content.decode()
    assert not ImportJob.objects.exists()


@override_settings(STAGEFLOW={**__import__("django.conf").conf.settings.STAGEFLOW, "IMPORT_MAX_BYTES": 1024})
def test_a_huge_file_is_refused_with_the_limit(client, rep):
    client.force_login(rep)
    response = upload(client, b"Company\n" + b"Some company name\n" * 200)
    body = response.content.decode()
    assert "files up to 1.0\xa0KB can be imported" in body and not ImportJob.objects.exists()


def test_deals_need_a_pipeline(client, rep):
    client.force_login(rep)
    response = upload(client, csv_bytes("Title,Company", "A,B"), kind="deals", pipeline="")
    assert "Choose the pipeline for the deals." in response.content.decode()


def test_mapping_without_a_required_column_is_refused(client, rep, make_job):
    job = make_job(rep, csv_bytes("Town,Industry", "Berlin,Software"))
    client.force_login(rep)
    page = client.get(reverse("imports:mapping", args=[job.pk]))
    assert page.context["form"]["name"].value() == ""  # nothing looks like a company column
    response = client.post(reverse("imports:mapping", args=[job.pk]), {"industry": "1"})
    assert response.status_code == 200
    assert "Choose the column that holds Company; it is required." in response.content.decode()


def test_mapping_one_column_twice_is_refused(client, rep, make_job):
    job = make_job(rep, csv_bytes("Company,Industry", "A,Software"))
    client.force_login(rep)
    response = client.post(reverse("imports:mapping", args=[job.pk]), {"name": "0", "industry": "0"})
    assert "is already used for another field" in response.content.decode()


def test_preview_shows_row_errors_and_offers_no_import(client, rep, make_job):
    job = make_job(rep, csv_bytes("Company,Country", "A,DE", "B,Deutschland", "C,Atlantis"))
    client.force_login(rep)
    page = client.get(reverse("imports:preview", args=[job.pk]))
    body = page.content.decode()
    assert "“Atlantis” is not a country" in body and "Deutschland" not in body.split("sf-import-problems")[1].split("</table>")[0]
    assert 'id="sf-import-commit"' not in body  # all or nothing is not offered; skipping the bad rows is
    assert "Import the 2 valid rows, skip the rest" in body
    assert client.post(reverse("imports:commit", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and not Organization.objects.exists()


def test_someone_elses_import_is_not_found(client, rep, make_job):
    job = make_job(UserFactory(username="other"), csv_bytes("Company", "Secret Ltd"))
    client.force_login(rep)
    for name in ("status", "mapping", "preview"):
        assert client.get(reverse(f"imports:{name}", args=[job.pk])).status_code == 404
    assert client.post(reverse("imports:commit", args=[job.pk])).status_code == 404
    assert not Organization.objects.exists()


def test_progress_partial_polls_while_running_and_stops_when_done(client, rep, make_job):
    from django.core.cache import cache

    job = make_job(rep, csv_bytes("Company", *[f"C{i}" for i in range(10)]))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    cache.set(job.progress_key, 4)
    client.force_login(rep)
    url = reverse("imports:status", args=[job.pk])
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in body and "4 of 10 rows" in body and 'aria-valuenow="40"' in body
    assert "<html" not in body

    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.DONE, created_organizations=10)
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in body and 'aria-valuenow="100"' in body and "10 leads were imported." in body


@override_settings(STAGEFLOW={**__import__("django.conf").conf.settings.STAGEFLOW, "IMPORT_BACKGROUND_ROWS": 5})
def test_a_large_file_is_queued_and_the_page_shows_its_progress(
    client, rep, make_job, django_capture_on_commit_callbacks, background_jobs
):
    job = make_job(rep, csv_bytes("Company", *[f"C{i}" for i in range(12)]))
    client.force_login(rep)
    page = client.get(reverse("imports:preview", args=[job.pk]))
    assert "imported in the background" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED and not Organization.objects.exists()
    body = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in body and "Waiting to start" in body
    callbacks[0]()  # the transaction commits: the job goes to the background thread
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert background_jobs.run() == 1  # the thread runs it after the response
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and Organization.objects.count() == 12


@pytest.mark.parametrize("kind", ["organizations", "deals"])
def test_the_sample_file_maps_itself_and_imports_cleanly(client, manager, pipeline, kind):
    client.force_login(manager)
    response = client.get(reverse("imports:sample", args=[kind]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    upload(client, response.content, name=f"{kind}.csv", kind=kind, pipeline=pipeline.pk)
    job = ImportJob.objects.get()
    assert len(job.mapping) == len(job.headers)  # every column was recognised
    preview = client.get(reverse("imports:preview", args=[job.pk])).context["preview"]
    assert preview.ok, [r.errors for r in preview.rows]
    client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_organizations == 1
    assert Organization.objects.get().contact_phone == "030 1234567"


def test_an_unknown_sample_is_not_found(client, rep):
    client.force_login(rep)
    assert client.get(reverse("imports:sample", args=["unicorns"])).status_code == 404
