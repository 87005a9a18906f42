"""The files panel on the deal, organisation and person pages: upload (several at once, refused
early when too large), list, download with safe headers, preview, rename and delete, each with
the record's own 404/403."""
import pytest
from django.test.client import BOUNDARY, encode_multipart
from django.urls import reverse

from attachments import services
from attachments.models import Attachment, StoredContent
from pipeline.people import person_create
from tests.attachments.conftest import pdf_bytes, png_bytes, read_response, uploaded
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db

HTML = b"<!DOCTYPE html><html><body><script>document.title='owned'</script></body></html>"


def upload_url(deal):
    return reverse("attachments:deal", args=[deal.pk])


def add(deal, rep, name="a.txt", data=b"text"):
    return services.attachment_add(file=uploaded(name, data), actor=rep, deal=deal)


def test_several_files_upload_at_once_and_show_on_the_deal_page(client, rep, deal):
    client.force_login(rep)
    response = client.post(upload_url(deal), {"files": [uploaded("RFP.pdf", pdf_bytes()), uploaded("screen.png", png_bytes())]})
    assert response.status_code == 302 and response["Location"].endswith(f"/pipeline/deals/{deal.pk}/#files")
    assert sorted(deal.attachments.values_list("name", flat=True)) == ["RFP.pdf", "screen.png"]
    page = client.get(deal.get_absolute_url()).content.decode()
    assert "2 files added." in page
    for attachment in deal.attachments.all():
        assert reverse("attachments:download", args=[attachment.pk]) in page
    assert "application/pdf" in page and "image/png" in page


def test_an_htmx_upload_answers_with_the_panel(client, rep, deal):
    client.force_login(rep)
    response = client.post(upload_url(deal), {"files": [uploaded("notes.txt", b"hello")]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<section class="sf-panel sf-files-panel"')
    assert "notes.txt" in text and "1 file added." in text


def test_an_upload_without_files_is_refused_with_a_message(client, rep, deal):
    client.force_login(rep)
    response = client.post(upload_url(deal), {}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "Choose one or more files to upload." in response.content.decode()


def test_files_on_organisations_and_people_too(client, rep, deal):
    client.force_login(rep)
    person = person_create(actor=rep, name="Jana Roth", organization=deal.organization, owner=rep)
    client.post(reverse("attachments:organization", args=[deal.organization.pk]), {"files": [uploaded("nda.txt", b"NDA")]})
    client.post(reverse("attachments:person", args=[person.pk]), {"files": [uploaded("card.txt", b"vCard")]})
    assert list(deal.organization.attachments.values_list("name", flat=True)) == ["nda.txt"]
    assert list(person.attachments.values_list("name", flat=True)) == ["card.txt"]
    assert "nda.txt" in client.get(deal.organization.get_absolute_url()).content.decode()
    assert "card.txt" in client.get(person.get_absolute_url()).content.decode()


def test_an_upload_announced_too_large_is_refused_before_its_body_is_read(client, rep, deal, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_UPLOAD_BYTES": 1000}
    client.force_login(rep)
    body = encode_multipart(BOUNDARY, {"files": uploaded("big.bin", b"x" * 100)})
    # The body announced is far longer than the one sent: reading it would fail the test client's
    # payload ("Cannot read more than the available bytes"), so a 413 proves it was not read.
    response = client.post(upload_url(deal), data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}", CONTENT_LENGTH=str(10 ** 9),
                           headers={"HX-Request": "true"})
    assert response.status_code == 413
    assert "one upload may be" in response.content.decode()
    assert not StoredContent.objects.exists()


def test_a_file_over_the_limit_is_refused_while_it_streams_in(client, rep, deal, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_BYTES": 1000}
    client.force_login(rep)
    response = client.post(upload_url(deal), {"files": [uploaded("small.txt", b"ok"), uploaded("big.bin", b"x" * 5000)]},
                           headers={"HX-Request": "true"})
    assert response.status_code == 413
    assert "“big.bin” is larger than 1000" in response.content.decode()
    assert not Attachment.objects.exists() and not StoredContent.objects.exists()


def test_too_many_files_are_refused(client, rep, deal, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_COUNT": 2}
    client.force_login(rep)
    response = client.post(upload_url(deal), {"files": [uploaded(f"{n}.txt", n.encode()) for n in "abc"]})
    assert response.status_code == 302
    assert "At most 2 files can be uploaded at once." in client.get(deal.get_absolute_url()).content.decode()
    assert not Attachment.objects.exists()


def test_an_upload_needs_the_csrf_token(rep, deal):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    response = client.post(upload_url(deal), {"files": [uploaded("a.txt", b"a")]})
    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_a_download_is_the_content_as_an_attachment_with_its_sniffed_type(client, rep, deal):
    pdf = pdf_bytes()
    attachment = add(deal, rep, "Angebot März.pdf", pdf)
    client.force_login(rep)
    response = client.get(reverse("attachments:download", args=[attachment.pk]))
    assert response.status_code == 200
    assert read_response(response) == pdf
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''Angebot%20M%C3%A4rz.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Length"] == str(len(pdf))


def test_html_is_never_shown_inline_whatever_its_name(client, rep, deal):
    attachment = add(deal, rep, "picture.png", HTML)
    client.force_login(rep)
    response = client.get(reverse("attachments:download", args=[attachment.pk]) + "?inline=1")
    assert response["Content-Type"].startswith("text/html")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_images_and_pdfs_may_be_shown_inline(client, rep, deal):
    attachment = add(deal, rep, "screen.png", png_bytes())
    client.force_login(rep)
    response = client.get(reverse("attachments:download", args=[attachment.pk]) + "?inline=1")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")


def test_the_preview_is_served_after_the_worker_made_it(client, rep, deal, django_capture_on_commit_callbacks):
    client.force_login(rep)
    with django_capture_on_commit_callbacks(execute=True):
        attachment = add(deal, rep, "screen.png", png_bytes(1000, 1000))
    response = client.get(reverse("attachments:preview", args=[attachment.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert read_response(response)[:8] == b"\x89PNG\r\n\x1a\n"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert f'src="{reverse("attachments:preview", args=[attachment.pk])}"' in client.get(deal.get_absolute_url()).content.decode()
    pending = add(deal, rep, "later.png", png_bytes(10, 10))
    assert client.get(reverse("attachments:preview", args=[pending.pk])).status_code == 404


@pytest.mark.parametrize("who, status", [("teammate", 200), ("outsider", 404)])
def test_downloads_answer_as_the_record_does(client, rep, deal, teammate, outsider, who, status):
    attachment = add(deal, rep)
    client.force_login({"teammate": teammate, "outsider": outsider}[who])
    assert client.get(reverse("attachments:download", args=[attachment.pk])).status_code == status
    assert client.get(reverse("attachments:preview", args=[attachment.pk])).status_code == 404


@pytest.mark.parametrize("who, status", [("teammate", 403), ("outsider", 404)])
def test_only_who_may_change_the_record_uploads_renames_and_deletes(client, rep, deal, teammate, outsider, who, status):
    attachment = add(deal, rep)
    client.force_login({"teammate": teammate, "outsider": outsider}[who])
    assert client.post(upload_url(deal), {"files": [uploaded("x.txt", b"x")]}).status_code == status
    assert client.post(reverse("attachments:rename", args=[attachment.pk]), {"name": "y.txt"}).status_code == status
    assert client.post(reverse("attachments:delete", args=[attachment.pk])).status_code == status
    attachment.refresh_from_db()
    assert attachment.name == "a.txt" and attachment.deleted_at is None
    assert deal.attachments.count() == 1


def test_rename_and_delete_from_the_panel(client, rep, deal):
    attachment = add(deal, rep, "draft.txt")
    client.force_login(rep)
    response = client.post(reverse("attachments:rename", args=[attachment.pk]), {"name": "final.txt"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "final.txt" in response.content.decode()
    response = client.post(reverse("attachments:rename", args=[attachment.pk]), {"name": "   "}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "A file needs a name." in response.content.decode()
    response = client.post(reverse("attachments:delete", args=[attachment.pk]), headers={"HX-Request": "true"})
    assert "“final.txt” deleted." in response.content.decode()
    assert "No files yet." in response.content.decode()
    assert client.get(reverse("attachments:download", args=[attachment.pk])).status_code == 404
    # The deal's history shows both.
    page = client.get(deal.get_absolute_url()).content.decode()
    assert "File added" in page and "File deleted" in page


def test_the_panel_costs_the_same_queries_for_many_files(client, rep, deal, django_assert_max_num_queries, django_capture_on_commit_callbacks):
    client.force_login(rep)
    add(deal, rep, "one.txt", b"1")
    client.get(deal.get_absolute_url())  # warm the session and caches
    with django_assert_max_num_queries(60) as few:
        client.get(deal.get_absolute_url())
    for n in range(12):
        with django_capture_on_commit_callbacks(execute=True):
            add(deal, rep, f"file-{n}.png", png_bytes(10 + n, 10))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(deal.get_absolute_url())
    assert response.content.decode().count('class="sf-file"') + response.content.decode().count('class="sf-file ') == 13


def test_the_panel_answers_a_get_with_the_page_or_the_partial(client, rep, deal, teammate):
    add(deal, rep, "x.txt")
    client.force_login(teammate)
    assert client.get(upload_url(deal))["Location"].endswith("#files")
    partial = client.get(upload_url(deal), headers={"HX-Request": "true"}).content.decode()
    assert "x.txt" in partial and "data-files-upload" not in partial  # a teammate reads, without the upload form
    other = DealFactory()
    assert client.get(reverse("attachments:deal", args=[other.pk]), headers={"HX-Request": "true"}).status_code == 404
