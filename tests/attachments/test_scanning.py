"""The virus scan against a real ClamAV daemon (started by the clamd_socket fixture with a
signature database holding the EICAR test file's hash)."""
import io

import pytest
from django.urls import reverse

from attachments import content, scanning, services
from attachments.models import Attachment, PreviewStatus, ScanStatus, StoredContent
from tests.attachments.conftest import EICAR, EICAR_FOUND, png_bytes, uploaded

pytestmark = pytest.mark.django_db


@pytest.fixture
def scanner(settings, clamd_socket):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_CLAMD_SOCKET": clamd_socket}
    return clamd_socket


def test_the_daemon_finds_the_eicar_file_and_passes_others(clamd_socket):
    assert scanning.scan_stream(io.BytesIO(EICAR), path=clamd_socket) == scanning.ScanResult(True, EICAR_FOUND)
    assert scanning.scan_stream(io.BytesIO(b"An ordinary contract." * 1000), path=clamd_socket) == scanning.ScanResult(False)


def test_an_infected_file_is_quarantined_and_cannot_be_downloaded(scanner, deal, rep, client):
    attachment = services.attachment_add(file=uploaded("invoice.com", EICAR), actor=rep, deal=deal)
    stored = attachment.content
    assert stored.scan_status == ScanStatus.INFECTED and stored.is_quarantined
    assert stored.scan_signature == EICAR_FOUND
    assert stored.storage_name.startswith("quarantine/")
    assert content.storage().exists(stored.storage_name)
    assert stored.preview_status == PreviewStatus.NONE
    client.force_login(rep)
    response = client.get(reverse("attachments:download", args=[attachment.pk]))
    assert response.status_code == 403
    assert b"X5O!P" not in response.content


def test_the_upload_page_says_a_file_was_quarantined(scanner, deal, rep, client):
    client.force_login(rep)
    response = client.post(
        reverse("attachments:deal", args=[deal.pk]),
        {"files": [uploaded("eicar.txt", EICAR), uploaded("clean.png", png_bytes())]}, headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 file added." in text
    assert f"“eicar.txt” contains a virus ({EICAR_FOUND}) and was put in quarantine" in text
    assert "Quarantined: a virus was found" in text
    statuses = dict(Attachment.objects.values_list("name", "content__scan_status"))
    assert statuses == {"eicar.txt": ScanStatus.INFECTED, "clean.png": ScanStatus.CLEAN}


def test_a_clean_file_is_marked_clean(scanner, deal, rep):
    attachment = services.attachment_add(file=uploaded("notes.txt", b"Call back on Monday."), actor=rep, deal=deal)
    assert attachment.content.scan_status == ScanStatus.CLEAN and attachment.content.scanned_at is not None


def test_uploads_are_refused_while_the_configured_scanner_does_not_answer(settings, deal, rep, tmp_path):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_CLAMD_SOCKET": str(tmp_path / "no-such.sock")}
    with pytest.raises(services.FileRefused, match="virus scanner is not answering") as refused:
        services.attachment_add(file=uploaded("a.txt", b"unscanned"), actor=rep, deal=deal)
    assert refused.value.code == "scanner_unavailable"
    assert not StoredContent.objects.exists()


def test_a_content_stored_before_the_scanner_was_set_up_is_scanned_when_it_comes_again(settings, clamd_socket, deal, rep, client):
    earlier = services.attachment_add(file=uploaded("old.com", EICAR), actor=rep, deal=deal)
    assert earlier.content.scan_status == ScanStatus.NOT_SCANNED
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_CLAMD_SOCKET": clamd_socket}
    again = services.attachment_add(file=uploaded("again.com", EICAR), actor=rep, deal=deal)
    assert again.content_id == earlier.content_id and again.content.is_quarantined
    client.force_login(rep)
    assert client.get(reverse("attachments:download", args=[earlier.pk])).status_code == 403
