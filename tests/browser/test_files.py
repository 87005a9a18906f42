"""Files on a deal in a real browser: drop several files onto the panel, they upload with a progress
bar and show with a preview; choosing files uploads them too; too large a file is refused before
it is sent."""
import io

import pytest
from PIL import Image

from attachments.models import Attachment
from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(width, height) -> list[int]:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 110, 200)).save(out, "PNG")
    return list(out.getvalue())


DROP = """([files]) => {
  const form = document.querySelector("form[data-files-upload]");
  const transfer = new DataTransfer();
  for (const [name, bytes, type] of files) transfer.items.add(new File([new Uint8Array(bytes)], name, {type}));
  form.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: transfer}));
  window.__sawDragover = form.classList.contains("is-dragover");
  const progress = form.querySelector("[data-files-progress]");
  window.__progressShown = false;
  new MutationObserver(() => { if (!progress.hidden) window.__progressShown = true; })
    .observe(progress, {attributes: true});
  form.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: transfer}));
}"""


def test_dropping_files_uploads_them_with_progress_and_shows_previews(page, sign_in, settings):
    rep = UserFactory(username="rita", role="rep")
    deal = DealFactory(owner=rep, stage=default_pipeline().stages.order_by("position").first())
    sign_in(rep, deal.get_absolute_url())
    page.evaluate(DROP, [[["Screenshot.png", png(900, 600), "image/png"], ["Notes.txt", list(b"Needs SSO."), "text/plain"]]])
    page.locator("#files .alert-success", has_text="2 files added.").wait_for()
    assert page.evaluate("window.__sawDragover") is True
    assert page.evaluate("window.__progressShown") is True
    assert sorted(Attachment.objects.filter(deal=deal).values_list("name", flat=True)) == ["Notes.txt", "Screenshot.png"]
    # The worker (in-process here) made the preview; after a reload the page shows it.
    page.reload()
    preview = page.locator("#files img[alt='Preview of Screenshot.png']")
    preview.wait_for()
    assert page.evaluate("(img) => img.complete && img.naturalWidth", preview.element_handle()) == 320
    # Download link of the text file: a real download, with its name.
    with page.expect_download() as download:
        page.locator("#files a", has_text="Notes.txt").click()
    assert download.value.suggested_filename == "Notes.txt"


def test_choosing_files_uploads_them_and_too_large_ones_are_refused_unsent(page, sign_in, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "FILES_MAX_BYTES": 2000}
    rep = UserFactory(username="rita", role="rep")
    deal = DealFactory(owner=rep, stage=default_pipeline().stages.order_by("position").first())
    sign_in(rep, deal.get_absolute_url())
    page.set_input_files("#files input[type=file]", files=[{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 5000}])
    page.locator("#files [data-files-status]", has_text="“big.bin” is larger than 2.0").wait_for()
    assert not Attachment.objects.exists()
    page.set_input_files("#files input[type=file]", files=[{"name": "nda.txt", "mimeType": "text/plain", "buffer": b"NDA"}])
    page.locator("#files .alert-success", has_text="1 file added.").wait_for()
    assert list(Attachment.objects.values_list("name", flat=True)) == ["nda.txt"]
