"""Adding, renaming, deleting and purging files (attachments.services), the type sniffed from the
content, the limits, and the storage as Django's storage API gives it."""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import InMemoryStorage, storages
from django.utils import timezone

from accounts.models import ConfigChange
from attachments import content, services
from attachments.models import Attachment, PreviewStatus, ScanStatus, StoredContent
from pipeline.models import Person
from tests.attachments.conftest import png_bytes, uploaded
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def history(attachment):
    return list(
        ConfigChange.objects.filter(content_type=ContentType.objects.get_for_model(Attachment), object_id=str(attachment.pk))
        .order_by("pk").values_list("action", "changes")
    )


def test_the_same_content_is_stored_once_however_often_and_wherever_it_is_attached(deal, rep):
    organization = OrganizationFactory()
    first = services.attachment_add(file=uploaded("contract.pdf", b"%PDF-1.4 same bytes"), actor=rep, deal=deal)
    second = services.attachment_add(file=uploaded("Vertrag final.pdf", b"%PDF-1.4 same bytes"), actor=rep, organization=organization)
    assert first.content_id == second.content_id
    assert StoredContent.objects.count() == 1
    assert (first.name, second.name) == ("contract.pdf", "Vertrag final.pdf")
    stored = first.content
    assert content.storage().exists(stored.storage_name)
    assert stored.storage_name == content.content_name(stored.sha256)


def test_the_type_is_sniffed_from_the_content_not_the_name(deal, rep):
    html = services.attachment_add(file=uploaded("invoice.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>",
                                                 "application/pdf"), actor=rep, deal=deal)
    image = services.attachment_add(file=uploaded("notes.txt", png_bytes(), "text/plain"), actor=rep, deal=deal)
    assert html.mime_type == "text/html"
    assert image.mime_type == "image/png"
    assert not content.can_show_inline(html.mime_type)
    assert content.can_show_inline(image.mime_type)


@pytest.mark.parametrize("given, kept", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\rita\\Angebot.docx", "Angebot.docx"),
    ("  report\x00\x07.pdf  ", "report.pdf"),
    ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
])
def test_names_lose_paths_and_control_characters_and_are_bounded(given, kept):
    assert services.clean_name(given) == kept


def test_a_nameless_file_is_refused(deal, rep):
    with pytest.raises(services.FileRefused, match="needs a name"):
        services.attachment_add(file=uploaded("x", b"data"), name="  ..  ", actor=rep, deal=deal)


def test_a_file_belongs_to_exactly_one_record(deal, rep):
    with pytest.raises(services.FileRefused, match="exactly one"):
        services.attachment_add(file=uploaded("a.txt", b"a"), actor=rep, deal=deal, organization=deal.organization)
    with pytest.raises(services.FileRefused, match="exactly one"):
        services.attachment_add(file=uploaded("a.txt", b"a"), actor=rep)


def test_nothing_is_added_to_an_erased_person(rep):
    person = Person.objects.create(name="Gone", owner=rep, erased_at=timezone.now())
    with pytest.raises(services.FileRefused, match="erased"):
        services.attachment_add(file=uploaded("a.txt", b"a"), actor=rep, person=person)


def test_limits_per_file_per_upload_and_count_come_from_settings(deal, rep, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_BYTES": 1000, "FILES_MAX_UPLOAD_BYTES": 1500, "FILES_MAX_COUNT": 2}
    with pytest.raises(services.FileRefused, match="one file may be at most 1000") as refused:
        services.attachments_add(files=[uploaded("big.bin", b"x" * 1001)], actor=rep, deal=deal)
    assert refused.value.code == "file_too_large"
    with pytest.raises(services.FileRefused, match="one upload may be at most") as refused:
        services.attachments_add(files=[uploaded("a.bin", b"x" * 800), uploaded("b.bin", b"y" * 800)], actor=rep, deal=deal)
    assert refused.value.code == "upload_too_large"
    with pytest.raises(services.FileRefused, match="At most 2 files") as refused:
        services.attachments_add(files=[uploaded(f"{n}.txt", b"n") for n in "abc"], actor=rep, deal=deal)
    assert refused.value.code == "too_many_files"
    # Refused as a whole: nothing of a refused upload is stored.
    assert not Attachment.objects.exists() and not StoredContent.objects.exists()
    # A direct add (the API, e-mail) is held to the per-file limit too.
    with pytest.raises(services.FileRefused):
        services.attachment_add(file=uploaded("big.bin", b"x" * 1001), actor=rep, deal=deal)


def test_add_rename_and_delete_are_recorded_in_the_history(deal, rep):
    attachment = services.attachment_add(file=uploaded("rfp.txt", b"Requirements"), actor=rep, deal=deal)
    services.attachment_rename(attachment=attachment, name="RFP 2027.txt", actor=rep)
    services.attachment_rename(attachment=attachment, name="RFP 2027.txt", actor=rep)  # unchanged: no row
    services.attachment_delete(attachment=attachment, actor=rep)
    assert history(attachment) == [
        ("create", {"name": [None, "rfp.txt"], "size": [None, "12"], "type": [None, "text/plain"]}),
        ("update", {"name": ["rfp.txt", "RFP 2027.txt"]}),
        ("delete", {"name": ["RFP 2027.txt", None]}),
    ]
    attachment.refresh_from_db()
    assert attachment.deleted_by == rep and attachment.deleted_at is not None
    with pytest.raises(services.FileRefused, match="deleted"):
        services.attachment_rename(attachment=attachment, name="again.txt", actor=rep)


def test_a_deleted_file_leaves_the_storage_after_the_grace_period_only(deal, rep, settings, django_capture_on_commit_callbacks):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_DELETE_GRACE_DAYS": 7}
    storage = content.storage()
    with time_machine.travel(datetime(2027, 3, 1, 9, tzinfo=dt_timezone.utc), tick=False):
        attachment = services.attachment_add(file=uploaded("old.txt", b"to be deleted"), actor=rep, deal=deal)
        name = attachment.content.storage_name
        services.attachment_delete(attachment=attachment, actor=rep)
    with time_machine.travel(datetime(2027, 3, 7, 9, tzinfo=dt_timezone.utc), tick=False):
        assert services.attachments_purge() == {"files": 0, "contents": 0}
    assert storage.exists(name)
    with time_machine.travel(datetime(2027, 3, 8, 9, 1, tzinfo=dt_timezone.utc), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            purged = services.attachments_purge()
    assert purged == {"files": 1, "contents": 1}
    attachment.refresh_from_db()
    assert attachment.content is None and attachment.purged_at is not None
    assert not StoredContent.objects.exists()
    assert not storage.exists(name)
    # The row stays for the history; running the purge again changes nothing.
    assert services.attachments_purge() == {"files": 0, "contents": 0}


def test_the_purge_keeps_a_content_that_another_file_still_holds(deal, rep, django_capture_on_commit_callbacks):
    kept = services.attachment_add(file=uploaded("a.txt", b"shared"), actor=rep, deal=deal)
    gone = services.attachment_add(file=uploaded("b.txt", b"shared"), actor=rep, deal=deal)
    services.attachment_delete(attachment=gone, actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.attachments_purge(now=timezone.now() + timedelta(days=365))
    assert result == {"files": 1, "contents": 0}
    assert content.storage().exists(kept.content.storage_name)


def test_purged_content_is_removed_from_storage_after_commit(deal, rep, django_capture_on_commit_callbacks):
    attachment = services.attachment_add(file=uploaded("c.txt", b"purge me"), actor=rep, deal=deal)
    name = attachment.content.storage_name
    services.attachment_delete(attachment=attachment, actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.attachments_purge(now=timezone.now() + timedelta(days=365))
    assert not content.storage().exists(name)


def test_files_live_in_whatever_storage_is_configured(deal, rep, settings, storage_folder, django_capture_on_commit_callbacks):
    """A second storage backend (in memory): uploads, previews, downloads and the purge all go
    through it, and nothing lands in the local folder."""
    settings.STORAGES = {**settings.STORAGES, "attachments": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    storage = storages["attachments"]
    assert isinstance(storage, InMemoryStorage)
    before = sorted(p for p in storage_folder.rglob("*") if p.is_file())
    with django_capture_on_commit_callbacks(execute=True):
        attachment = services.attachment_add(file=uploaded("chart.png", png_bytes(800, 400)), actor=rep, deal=deal)
    stored = StoredContent.objects.get(pk=attachment.content_id)
    assert stored.preview_status == PreviewStatus.READY
    assert storage.exists(stored.storage_name) and storage.exists(stored.preview_name)
    with storage.open(stored.storage_name) as stream:
        assert stream.read() == png_bytes(800, 400)
    services.attachment_delete(attachment=attachment, actor=rep)
    with django_capture_on_commit_callbacks(execute=True):
        services.attachments_purge(now=timezone.now() + timedelta(days=365))
    assert not storage.exists(stored.storage_name) and not storage.exists(stored.preview_name)
    assert sorted(p for p in storage_folder.rglob("*") if p.is_file()) == before


def test_without_a_scanner_files_are_marked_not_scanned(deal, rep):
    attachment = services.attachment_add(file=uploaded("a.txt", b"plain"), actor=rep, deal=deal)
    assert attachment.content.scan_status == ScanStatus.NOT_SCANNED


@pytest.mark.parametrize("head, kind", [
    (png_bytes()[:64], "image/png"), (b"%PDF-1.7\n", "application/pdf"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"<html><script>x</script></html>", "application/octet-stream"), (b"MZ\x90\x00", "application/octet-stream"),
])
def test_without_libmagic_only_the_previewed_types_are_recognised(monkeypatch, head, kind):
    monkeypatch.setattr(content, "magic", None)
    assert content.sniff_type(head) == kind
    assert not content.can_show_inline("application/octet-stream")


def test_a_missing_libmagic_is_reported_by_the_checks(monkeypatch):
    from attachments.apps import libmagic_check

    assert libmagic_check() == []
    monkeypatch.setattr(content, "magic", None)
    assert [w.id for w in libmagic_check()] == ["attachments.W001"]
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert [w.id for w in libmagic_check()] == ["attachments.W001", "attachments.W002"]
