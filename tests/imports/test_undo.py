"""Undoing an import as a whole: everything it created goes, with its history, in one step, while
nobody has worked with it since; otherwise every reason is listed and nothing is removed."""
from datetime import datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from activities.models import Activity
from activities.services import activity_create
from imports.models import ImportJob, ImportStatus
from imports.undo import UndoRefused, import_undo, undo_refusals
from outbox.models import OutboxMessage
from pipeline import services as pipeline_services
from pipeline.models import Deal, LostReason, Organization, Person, PersonEmail, StageChange
from tests.factories import OrganizationFactory, UserFactory

from .conftest import csv_bytes
from .test_moving_in import export, walk_to_preview

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 12, 15, 12, 0, tzinfo=timezone.get_fixed_timezone(0))


@pytest.fixture
def imported(client, admin_user, pipeline, stages):
    """A real CRM export moved in through the wizard by an admin (new organisations, their
    contacts, deals with their past, a new lost reason, a new inactive owner), beside an
    organisation that existed before."""
    UserFactory(username="aschmidt", first_name="Anna", last_name="Schmidt", role="rep")
    UserFactory(username="bweber", email="ben@example.com", role="rep")
    before = OrganizationFactory(name="Here Before GmbH")
    LostReason.objects.get_or_create(name="Price", defaults={"position": 9})
    data, truth = export(n=30)
    client.force_login(admin_user)
    with time_machine.travel(NOW, tick=False):
        job, _page, posted = walk_to_preview(client, data, pipeline)
        client.post(reverse("imports:values", args=[job.pk]), posted)
        client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_deals == 30
    return job, before


def test_undo_removes_everything_the_import_created_and_nothing_else(imported, admin_user, stages):
    job, before = imported
    records = job.created_records
    assert len(records["deals"]) == 30 and len(records["organizations"]) == job.created_organizations == 30
    assert LostReason.objects.filter(pk__in=records["lost_reasons"], name="Went dark").exists()
    assert User.objects.filter(username="carla.jones", is_active=False).exists()
    OutboxMessage.objects.all().delete()
    people_before = Person.objects.filter(organization=before).count()

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        assert undo_refusals(job) == []
        import_undo(job, actor=admin_user)

    assert not Deal.objects.exists() and not StageChange.objects.exists()
    assert list(Organization.objects.all()) == [before]
    assert Person.objects.filter(organization=before).count() == people_before
    assert not LostReason.objects.filter(name="Went dark").exists()
    assert LostReason.objects.filter(name="Price").exists()  # it existed before the import
    assert not User.objects.filter(username="carla.jones").exists()
    assert User.objects.filter(username="aschmidt").exists()
    job.refresh_from_db()
    assert (job.status, job.undone_by, job.undone_at) == (ImportStatus.UNDONE, admin_user, NOW + timedelta(hours=1))
    # The forecast and the figures about the past recompute.
    published = OutboxMessage.objects.get(topic="pipeline.deals_changed", handler="forecasting.refresh")
    assert published.payload["kind"] == "deleted" and published.payload["past_changed"] is True
    assert len(published.payload["deal_ids"]) == 30


def test_a_deal_changed_since_blocks_the_undo_and_nothing_is_removed(imported, admin_user, stages):
    job, _before = imported
    deal = Deal.objects.filter(status="open").first()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        pipeline_services.deal_update(deal=deal, actor=admin_user, title="Renamed by a rep")
        assert undo_refusals(job) == ["1 imported deal was changed since."]
        with pytest.raises(UndoRefused):
            import_undo(job, actor=admin_user)
    assert Deal.objects.count() == 30 and Organization.objects.count() == 31
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE


def test_work_added_to_imported_records_blocks_the_undo_with_every_reason(imported, admin_user, pipeline, stages):
    job, before = imported
    organization = Organization.objects.get(pk=job.created_records["organizations"][0])
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        activity_create(actor=admin_user, kind="call", title="Call back", due_at=timezone.now(),
                        organization=organization)
        # A deal someone else created for an imported organisation.
        pipeline_services.deal_create(actor=admin_user, organization=organization, title="New business",
                                      stage=stages["Prospecting"])
        Organization.objects.filter(pk=organization.pk).update(updated_at=NOW)  # only the referrers count here
        reasons = undo_refusals(job)
    assert "Activities that refer to imported records: 1." in reasons
    assert "Deals that refer to imported records: 1." in reasons
    assert Activity.objects.count() == 1


def test_an_import_is_undone_once_and_a_failed_one_not_at_all(imported, admin_user, make_job, rep):
    job, _before = imported
    import_undo(job, actor=admin_user)
    job.refresh_from_db()
    assert undo_refusals(job) == ["This import has already been undone."]
    with pytest.raises(UndoRefused):
        import_undo(job, actor=admin_user)

    failed = make_job(rep, csv_bytes("Company,Website", "Broken,not a website at all"))
    from imports.services import import_commit

    import_commit(failed)
    failed.refresh_from_db()
    assert failed.status == ImportStatus.FAILED and failed.created_records == {}
    assert undo_refusals(failed) == ["Only a finished import can be undone."]


def test_the_undo_page_says_what_goes_and_the_post_undoes(client, imported, admin_user):
    job, _before = imported
    url = reverse("imports:undo", args=[job.pk])
    status = client.get(job.get_absolute_url()).content.decode()
    assert url in status
    page = client.get(url).content.decode()
    assert "30 organisations" in page and "30 deals" in page and "carla.jones" in page
    response = client.post(url)
    assert response["Location"] == job.get_absolute_url()
    assert not Deal.objects.exists()
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'id="sf-import-undone"' in page and url not in page


def test_a_refused_undo_lists_the_reasons_and_keeps_everything(client, imported, admin_user):
    job, _before = imported
    Deal.objects.filter(pk=job.created_records["deals"][0]).update(updated_at=NOW + timedelta(days=2))
    url = reverse("imports:undo", args=[job.pk])
    page = client.get(url).content.decode()
    assert "1 imported deal was changed since." in page and "sf-undo-confirm" not in page
    response = client.post(url, follow=True)
    assert "could not be undone" in response.content.decode()
    assert Deal.objects.count() == 30


def test_only_the_uploader_can_see_or_undo_an_import(client, imported, manager):
    job, _before = imported
    client.force_login(manager)
    url = reverse("imports:undo", args=[job.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert Deal.objects.count() == 30


def test_undoing_organisations_removes_their_contacts_and_keeps_people_of_others(make_job, rep):
    from imports.services import import_commit

    before = OrganizationFactory(name="Here Before GmbH", owner=rep)
    job = make_job(rep, csv_bytes(
        "Company,Contact name,Contact email,Contact phone",
        "Alpha GmbH,Anna Alt,anna@alpha.example,030 1234567",
        "Beta AG,,bernd@beta.example,",
        "Gamma KG,,,",
    ))
    import_commit(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and len(job.created_records["people"]) == 2
    Person.objects.create(name="Pia Vorher", organization=before, owner=rep)
    people_before = set(Person.objects.exclude(pk__in=job.created_records["people"]))
    import_undo(job, actor=rep)
    assert list(Organization.objects.all()) == [before] and set(Person.objects.all()) == people_before
    assert not PersonEmail.objects.filter(address__in=["anna@alpha.example", "bernd@beta.example"]).exists()


def test_a_person_added_to_an_imported_organisation_blocks_the_undo(make_job, rep):
    from imports.services import import_commit

    job = make_job(rep, csv_bytes("Company,Contact name", "Alpha GmbH,Anna Alt"))
    import_commit(job)
    job.refresh_from_db()
    organization = Organization.objects.get(name="Alpha GmbH")
    Person.objects.create(name="Bert Neu", organization=organization, owner=rep)
    assert undo_refusals(job) == ["People that refer to imported records: 1."]


def test_mail_or_files_filed_on_imported_records_block_the_undo(imported, admin_user):
    """Later kinds of records are found from the models' relations: a mail thread (many-to-many)
    on an imported deal and a file on an imported organisation."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from attachments.services import attachment_add
    from mail.models import Thread

    job, _before = imported
    deal = Deal.objects.get(pk=job.created_records["deals"][0])
    organization = Organization.objects.get(pk=job.created_records["organizations"][1])
    thread = Thread.objects.create(owner=admin_user, subject="Re: the offer")
    thread.deals.add(deal)
    attachment_add(file=SimpleUploadedFile("rfp.txt", b"Request for proposal"), actor=admin_user,
                   organization=organization)
    reasons = undo_refusals(job)
    assert any(reason.endswith("that refer to imported records: 1.") and "thread" in reason.lower() for reason in reasons), reasons
    assert any(reason.endswith("that refer to imported records: 1.") and "file" in reason.lower() for reason in reasons), reasons
    with pytest.raises(UndoRefused):
        import_undo(job, actor=admin_user)
    assert Thread.objects.filter(deals=deal).exists()
