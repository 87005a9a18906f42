"""Files through the REST API: list what one may see, upload onto what one may change, download
with the same headers as the pages, rename and delete; limits and refusals as JSON."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from attachments import services
from attachments.models import Attachment, AttachmentSource, StoredContent
from tests.api.conftest import client_for, token_client

pytestmark = pytest.mark.django_db


def add(deal, user, name="a.txt", data=b"text"):
    return services.attachment_add(file=SimpleUploadedFile(name, data), actor=user, deal=deal)


def read(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_list_holds_the_files_on_records_one_may_see(rep, own_deal, team_deal, other_deal, teammate, other_rep):
    mine, theirs, hidden = add(own_deal, rep, "mine.txt"), add(team_deal, teammate, "team.txt"), add(other_deal, other_rep, "south.txt")
    services.attachment_delete(attachment=add(own_deal, rep, "gone.txt", b"gone"), actor=rep)
    client, _ = token_client(rep)
    data = client.get("/api/v1/files/").json()
    assert {row["name"] for row in data["results"]} == {"mine.txt", "team.txt"}
    assert client.get("/api/v1/files/", {"deal": own_deal.pk}).json()["count"] == 1
    row = client.get(f"/api/v1/files/{mine.pk}/").json()
    assert row["mime_type"] == "text/plain" and row["size"] == 4 and row["deal"] == own_deal.pk
    assert row["sha256"] == mine.content.sha256 and row["quarantined"] is False
    assert row["download_url"].endswith(f"/api/v1/files/{mine.pk}/download/")
    assert client.get(f"/api/v1/files/{hidden.pk}/").status_code == 404
    assert theirs.pk in {r["id"] for r in data["results"]}


def test_upload_onto_a_deal_and_download(rep, own_deal):
    client, _ = token_client(rep)
    response = client.post("/api/v1/files/", {"deal": own_deal.pk, "file": SimpleUploadedFile("report.pdf", b"<html>not a pdf</html>")},
                           format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "report.pdf" and body["mime_type"] == "text/html"
    assert Attachment.objects.get(pk=body["id"]).source == AttachmentSource.API
    download = client.get(f"/api/v1/files/{body['id']}/download/")
    assert download.status_code == 200 and read(download) == b"<html>not a pdf</html>"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"


def test_an_upload_needs_a_record_one_may_change(rep, teammate, own_deal, other_deal):
    client, _ = token_client(teammate)
    file = SimpleUploadedFile("x.txt", b"x")
    assert client.post("/api/v1/files/", {"deal": own_deal.pk, "file": file}, format="multipart").status_code == 403
    response = client.post("/api/v1/files/", {"deal": other_deal.pk, "file": SimpleUploadedFile("x.txt", b"x")}, format="multipart")
    assert response.status_code == 400 and "deal" in response.json()  # not visible: as if it did not exist
    response = client.post("/api/v1/files/", {"file": SimpleUploadedFile("x.txt", b"x")}, format="multipart")
    assert response.status_code == 400
    assert not Attachment.objects.exists()


def test_an_upload_announced_too_large_is_refused_unread(rep, own_deal, settings):
    from django.test.client import BOUNDARY, encode_multipart

    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_UPLOAD_BYTES": 150}
    client, _ = token_client(rep)
    body = encode_multipart(BOUNDARY, {"deal": own_deal.pk, "file": SimpleUploadedFile("a.bin", b"a")})
    response = client.generic("POST", "/api/v1/files/", body, content_type=f"multipart/form-data; boundary={BOUNDARY}",
                              CONTENT_LENGTH=str(10 ** 9))
    assert response.status_code == 413 and "one upload may be" in response.json()["detail"]
    assert not StoredContent.objects.exists()


def test_limits_answer_413(rep, own_deal, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_BYTES": 100, "FILES_MAX_UPLOAD_BYTES": 150}
    client = client_for(rep)
    response = client.post("/api/v1/files/", {"deal": own_deal.pk, "file": SimpleUploadedFile("big.bin", b"x" * 120)}, format="multipart")
    assert response.status_code == 413, response.content
    assert "“big.bin” is larger than 100" in response.json()["detail"]
    assert "larger than 100" in response.content.decode()
    assert not StoredContent.objects.exists()


def test_rename_and_delete(rep, teammate, own_deal):
    attachment = add(own_deal, rep)
    other, _ = token_client(teammate)
    assert other.patch(f"/api/v1/files/{attachment.pk}/", {"name": "b.txt"}, format="json").status_code == 403
    assert other.delete(f"/api/v1/files/{attachment.pk}/").status_code == 403
    client, _ = token_client(rep)
    assert client.patch(f"/api/v1/files/{attachment.pk}/", {"name": "b.txt"}, format="json").json()["name"] == "b.txt"
    assert client.delete(f"/api/v1/files/{attachment.pk}/").status_code == 204
    assert client.get(f"/api/v1/files/{attachment.pk}/").status_code == 404
    assert client.get(f"/api/v1/files/{attachment.pk}/download/").status_code == 404


def test_the_list_costs_the_same_queries_for_many_files(rep, own_deal, django_assert_max_num_queries):
    client, _ = token_client(rep)
    add(own_deal, rep, "1.txt", b"1")
    with django_assert_max_num_queries(20) as few:
        client.get("/api/v1/files/")
    for n in range(10):
        add(own_deal, rep, f"{n}.bin", bytes([n]) * 10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/files/").json()["count"] == 11
