"""Previews of images and PDFs, made by the worker: bounded in pixels and in time."""
import io
import shutil

import pytest
from PIL import Image

from attachments import content, previews, services
from attachments.models import PreviewStatus, StoredContent
from attachments.tasks import preview_make
from tests.attachments.conftest import pdf_bytes, png_bytes, uploaded

pytestmark = pytest.mark.django_db

needs_pdftoppm = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm is not installed (Debian's poppler-utils; .ci/run installs it)"
)


def add(deal, rep, name, data, capture):
    with capture(execute=True):
        attachment = services.attachment_add(file=uploaded(name, data), actor=rep, deal=deal)
    return StoredContent.objects.get(pk=attachment.content_id)


def preview_image(stored) -> Image.Image:
    with content.storage().open(stored.preview_name, "rb") as stream:
        image = Image.open(io.BytesIO(stream.read()))
        image.load()
        return image


def test_an_image_gets_a_small_png_preview_after_commit(deal, rep, django_capture_on_commit_callbacks):
    stored = add(deal, rep, "site.jpg", png_bytes(1600, 900), django_capture_on_commit_callbacks)
    assert stored.preview_status == PreviewStatus.READY
    image = preview_image(stored)
    assert image.format == "PNG"
    assert image.size == (320, 180) == (stored.preview_width, stored.preview_height)


def test_no_preview_is_made_inside_the_request(deal, rep):
    """The preview is the worker's: without the commit it stays pending."""
    attachment = services.attachment_add(file=uploaded("site.png", png_bytes()), actor=rep, deal=deal)
    assert attachment.content.preview_status == PreviewStatus.PENDING
    assert not attachment.content.preview_name


@needs_pdftoppm
def test_a_pdf_gets_a_preview_of_its_first_page(deal, rep, django_capture_on_commit_callbacks):
    stored = add(deal, rep, "offer.pdf", pdf_bytes(), django_capture_on_commit_callbacks)
    assert stored.mime_type == "application/pdf"
    assert stored.preview_status == PreviewStatus.READY
    image = preview_image(stored)
    assert max(image.size) == 320
    # The page's black box is drawn: the preview is not blank.
    assert image.convert("L").getextrema()[0] < 50


@needs_pdftoppm
def test_a_pdf_that_takes_too_long_to_draw_gets_no_preview(deal, rep, settings, django_capture_on_commit_callbacks):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_PREVIEW_TIMEOUT": 0.001}
    stored = add(deal, rep, "slow.pdf", pdf_bytes("slow"), django_capture_on_commit_callbacks)
    assert stored.preview_status == PreviewStatus.FAILED and not stored.preview_name


def test_a_decompression_bomb_is_refused_before_it_is_decoded(deal, rep, django_capture_on_commit_callbacks):
    """20,000 × 20,000 pixels (400 million) in a few tens of kilobytes of PNG."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    assert len(out.getvalue()) < 200_000
    stored = add(deal, rep, "bomb.png", out.getvalue(), django_capture_on_commit_callbacks)
    assert stored.mime_type == "image/png"
    assert stored.preview_status == PreviewStatus.FAILED and not stored.preview_name
    with pytest.raises(previews.PreviewRefused, match="400000000 pixels"):
        previews.image_preview(io.BytesIO(out.getvalue()))


def test_the_pixel_bound_comes_from_settings(settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_PREVIEW_MAX_PIXELS": 100 * 100}
    with pytest.raises(previews.PreviewRefused):
        previews.image_preview(io.BytesIO(png_bytes(101, 100)))
    assert previews.image_preview(io.BytesIO(png_bytes(100, 100)))[1:] == (100, 100)


def test_a_broken_image_gets_no_preview(deal, rep, django_capture_on_commit_callbacks):
    broken = png_bytes()[:200]
    stored = add(deal, rep, "broken.png", broken, django_capture_on_commit_callbacks)
    assert stored.preview_status == PreviewStatus.FAILED


def test_files_without_previews_are_not_queued(deal, rep):
    attachment = services.attachment_add(file=uploaded("a.csv", b"name,size\nACME,12\n"), actor=rep, deal=deal)
    assert attachment.content.preview_status == PreviewStatus.NONE


def test_the_task_is_idempotent(deal, rep, django_capture_on_commit_callbacks):
    stored = add(deal, rep, "a.png", png_bytes(), django_capture_on_commit_callbacks)
    name = stored.preview_name
    assert preview_make(stored.pk) == PreviewStatus.READY
    stored.refresh_from_db()
    assert stored.preview_name == name
    assert preview_make(987654) == "gone"
