"""Importing people: a contacts export of another CRM (names split in two columns or whole,
several addresses in one cell, the company by name), linked to organisations that exist or are
created once, without creating anybody twice."""
import pytest
from django.urls import reverse

from imports.models import ImportKind, ImportStatus
from imports.services import import_commit, import_preview, mapping_guess
from imports.undo import import_undo
from pipeline.models import Organization, Person, PersonEmail
from tests.factories import OrganizationFactory, TeamFactory, UserFactory

from .conftest import csv_bytes

pytestmark = pytest.mark.django_db

HEADERS = "First Name;Last Name;Email;Phone;Job Title;Company Name;Contact owner"


def test_a_contacts_export_maps_itself():
    mapping = mapping_guess(ImportKind.PEOPLE, HEADERS.split(";"))
    assert mapping == {"first_name": 0, "last_name": 1, "emails": 2, "phones": 3, "job_title": 4, "organization": 5,
                       "owner": 6}


def test_people_join_existing_organisations_and_new_ones_are_created_once(make_job, rep):
    nordlicht = OrganizationFactory(name="Nordlicht Logistik GmbH", owner=rep)
    Person.objects.create(name="Known Person", owner=rep)
    PersonEmail.objects.create(person=Person.objects.get(name="Known Person"), address="known@example.com")
    job = make_job(rep, csv_bytes(
        HEADERS,
        "Anna;Alt;anna@nordlicht.example; +49 30 1234567 ;Einkauf;nordlicht logistik gmbh;",
        "Bernd;Berg;bernd@alpen.example, b.berg@alpen.example;030 555, 0170 123;CTO;Alpen Software AG;",
        "Carla;Cruz;;;;Alpen Software AG;",
        "Dora;Dorn;KNOWN@example.com;;;;",
        "Emil;Ernst;bernd@alpen.example;;;;",
        ";;nobody@example.com;;;;",
    ), kind="people")
    preview = import_preview(job)
    assert [r.skip for r in preview.rows] == [False, False, False, True, True, False]
    assert preview.rows[3].duplicate == "A person with the e-mail address known@example.com is already in Stageflow."
    assert preview.rows[4].duplicate == "Same person as line 3 of this file (same e-mail address)."
    assert preview.rows[5].errors == ["The person's name is missing."]
    assert preview.rows[1].values["phones"] == ["030 555", "0170 123"]

    job.skip_invalid = True
    job.save()
    import_commit(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_organizations == 1
    anna = Person.objects.get(name="Anna Alt")
    assert (anna.organization, anna.job_title, anna.email, anna.phone, anna.owner) == (
        nordlicht, "Einkauf", "anna@nordlicht.example", "+49 30 1234567", rep)
    bernd = Person.objects.get(name="Bernd Berg")
    assert list(bernd.emails.order_by("position").values_list("address", flat=True)) == [
        "bernd@alpen.example", "b.berg@alpen.example"]
    alpen = Organization.objects.get(name="Alpen Software AG")
    assert set(alpen.people.values_list("name", flat=True)) == {"Bernd Berg", "Carla Cruz"}
    assert len(job.created_records["people"]) == 3

    import_undo(job, actor=rep)
    assert not Person.objects.filter(name__in=["Anna Alt", "Bernd Berg", "Carla Cruz"]).exists()
    assert not Organization.objects.filter(name="Alpen Software AG").exists()
    assert Organization.objects.filter(pk=nordlicht.pk).exists()


def test_a_person_for_an_organisation_the_importer_cannot_see_is_refused(make_job, rep, settings):
    settings.STAGEFLOW_SHARED_ADDRESS_BOOK = False
    stranger = UserFactory(username="other", role="rep", team=TeamFactory(name="Elsewhere"))
    OrganizationFactory(name="Hidden Corp", owner=stranger)
    job = make_job(rep, csv_bytes("Name,Company", "Hanna Hidden,Hidden Corp"), kind="people")
    row = import_preview(job).rows[0]
    assert row.errors == ["This company already exists as a lead you cannot see; ask your manager."]


def test_the_people_sample_imports_cleanly_through_the_pages(client, rep):
    client.force_login(rep)
    sample = client.get(reverse("imports:sample", args=["people"])).content
    response = client.post(reverse("imports:upload"), {"kind": "people", "file": __import__(
        "django.core.files.uploadedfile", fromlist=["SimpleUploadedFile"]).SimpleUploadedFile("people.csv", sample)})
    from imports.models import ImportJob

    job = ImportJob.objects.get()
    page = client.get(response["Location"])
    mapping = {f.name: f.value() for f in page.context["form"] if f.value()}
    client.post(reverse("imports:mapping", args=[job.pk]), mapping)
    client.post(reverse("imports:values", args=[job.pk]), {})
    preview = client.get(reverse("imports:preview", args=[job.pk]))
    assert preview.context["preview"].ok and "Erika Muster" in preview.content.decode()
    response = client.post(reverse("imports:commit", args=[job.pk]))
    status = client.get(response["Location"]).content.decode()
    assert "1 people and 1 new organisations were imported." in status
    erika = Person.objects.get(name="Erika Muster")
    assert erika.phone == "030 1234567" and erika.phones.count() == 2 and erika.organization.name == "Muster GmbH"
