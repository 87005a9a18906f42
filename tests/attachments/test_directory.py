"""Files in a person's data export and erasure, in merges, and in the organisation and person
timelines."""
import base64

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts.models import ConfigChange
from attachments import content, services
from attachments.models import Attachment, StoredContent
from pipeline import merging, privacy
from pipeline.people import person_create
from tests.attachments.conftest import png_bytes, uploaded
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(rep):
    return person_create(actor=rep, name="Anna Weber", owner=rep, emails=["anna@example.com"])


def test_the_export_holds_the_persons_files_with_their_content(anna, rep, admin_user):
    scan = services.attachment_add(file=uploaded("Ausweis Anna Weber.png", png_bytes(30, 20)), actor=rep, person=anna)
    services.attachment_delete(attachment=services.attachment_add(file=uploaded("old.txt", b"old"), actor=rep, person=anna), actor=rep)
    data = privacy.person_export(person=anna, actor=admin_user)
    files = {row["name"]: row for row in data["files"]}
    assert set(files) == {"Ausweis Anna Weber.png", "old.txt"}
    assert base64.b64decode(files["Ausweis Anna Weber.png"]["content_base64"]) == png_bytes(30, 20)
    assert files["Ausweis Anna Weber.png"]["type"] == "image/png"
    assert files["Ausweis Anna Weber.png"]["sha256"] == scan.content.sha256
    assert files["old.txt"]["deleted_at"] is not None


def test_the_export_page_names_the_files_without_their_content(anna, rep, admin_user, client):
    services.attachment_add(file=uploaded("contract.txt", b"Signed."), actor=rep, person=anna)
    client.force_login(admin_user)
    page = client.get(reverse("pipeline:person_data", args=[anna.pk])).content.decode()
    assert "Files" in page and "contract.txt" in page
    assert base64.b64encode(b"Signed.").decode() not in page
    download = client.get(reverse("pipeline:person_data_json", args=[anna.pk])).json()
    assert base64.b64decode(download["files"][0]["content_base64"]) == b"Signed."


def test_an_erasure_removes_the_persons_files_from_storage_at_once(anna, rep, admin_user, deal, django_capture_on_commit_callbacks):
    own = services.attachment_add(file=uploaded("Ausweis Anna Weber.png", png_bytes(31, 20)), actor=rep, person=anna)
    shared = services.attachment_add(file=uploaded("Anna's offer.txt", b"also on a deal"), actor=rep, person=anna)
    on_deal = services.attachment_add(file=uploaded("offer.txt", b"also on a deal"), actor=rep, deal=deal)
    own_name = own.content.storage_name
    with django_capture_on_commit_callbacks(execute=True):
        privacy.person_erase(person=anna, actor=admin_user)
    storage = content.storage()
    assert not storage.exists(own_name)
    assert storage.exists(on_deal.content.storage_name)  # another record's file keeps the same content
    assert StoredContent.objects.filter(pk=on_deal.content_id).exists()
    for attachment in (own, shared):
        attachment.refresh_from_db()
        assert attachment.name == "(erased on request)" and attachment.content is None and attachment.deleted_at
    # The audit rows keep what happened, without the names.
    rows = ConfigChange.objects.filter(content_type=ContentType.objects.get_for_model(Attachment), object_id__in=[str(own.pk), str(shared.pk)])
    assert rows.count() == 2
    assert "Anna" not in str(list(rows.values_list("changes", "object_repr")))
    assert ConfigChange.objects.filter(action="erase", object_id=str(anna.pk)).get().changes["erased attachments.attachment"] == [None, "2"]


def test_a_merge_moves_the_files_to_the_survivor(rep, admin_user):
    survivor, merged = OrganizationFactory(name="ACME GmbH", owner=rep), OrganizationFactory(name="ACME", owner=rep)
    attachment = services.attachment_add(file=uploaded("nda.txt", b"NDA"), actor=rep, organization=merged)
    merging.records_merge(survivor=survivor, merged=merged, actor=admin_user)
    attachment.refresh_from_db()
    assert attachment.organization_id == survivor.pk


def test_the_organisation_timeline_shows_files_on_it_and_its_deals(client, rep, deal):
    services.attachment_add(file=uploaded("nda.txt", b"NDA"), actor=rep, organization=deal.organization)
    services.attachment_add(file=uploaded("rfp.txt", b"RFP"), actor=rep, deal=deal)
    client.force_login(rep)
    page = client.get(deal.organization.get_absolute_url()).content.decode()
    assert page.count("File added") == 2
    assert "nda.txt" in page and "rfp.txt" in page
