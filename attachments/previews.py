"""Preview images of images and PDFs, made by the worker (attachments.tasks.preview_make).

Bounded in pixels and time: an image whose header announces more than
STAGEFLOW["FILES_PREVIEW_MAX_PIXELS"] pixels is refused before anything is decoded (a
decompression bomb: a few kilobytes that unpack into gigabytes), and Pillow's own bomb check
stays armed beneath it. A PDF's first page is drawn by Debian's poppler-utils (`pdftoppm`) in a
child process, scaled to the preview's size, with a wall-clock timeout and a memory limit, so a
hostile PDF costs at most that.
"""
import io
import resource
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from django.conf import settings
from PIL import Image

PREVIEW_SIZE = 320  # the longer side, in pixels
PDF_MEMORY_LIMIT = 1024 * 1024 * 1024


class PreviewRefused(Exception):
    """No preview can be made of this content (too large, broken, or the tool is missing)."""


def _max_pixels() -> int:
    return int(settings.STAGEFLOW.get("FILES_PREVIEW_MAX_PIXELS", 50_000_000))


def _timeout() -> float:
    return float(settings.STAGEFLOW.get("FILES_PREVIEW_TIMEOUT", 20))


def _to_png(image: Image.Image) -> tuple[bytes, int, int]:
    image.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue(), image.width, image.height


def image_preview(stream) -> tuple[bytes, int, int]:
    """PNG bytes of a preview of the image in `stream`, and its width and height."""
    limit = _max_pixels()
    with warnings.catch_warnings():
        # Pillow warns above its own limit and raises above twice it: a warning is refusal here too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(stream) as image:
                width, height = image.size
                if width * height > limit:
                    raise PreviewRefused(f"{width}×{height} pixels is more than the {limit} a preview may decode")
                image.draft("RGB", (PREVIEW_SIZE, PREVIEW_SIZE))  # JPEG: decode at a fraction of the size
                image.load()
                return _to_png(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise PreviewRefused(str(error)) from error
        except (OSError, ValueError, SyntaxError) as error:  # not an image Pillow can read
            raise PreviewRefused(str(error)) from error


def _limit_memory():  # pragma: no cover - runs in the child process
    resource.setrlimit(resource.RLIMIT_AS, (PDF_MEMORY_LIMIT, PDF_MEMORY_LIMIT))


def pdf_preview(stream) -> tuple[bytes, int, int]:
    """PNG bytes of a preview of the PDF's first page, and its width and height."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PreviewRefused("pdftoppm (Debian's poppler-utils) is not installed")
    with tempfile.TemporaryDirectory(prefix="stageflow-preview-") as folder:
        source = Path(folder) / "in.pdf"
        with source.open("wb") as out:
            shutil.copyfileobj(stream, out)
        target = Path(folder) / "page"
        try:
            subprocess.run(
                [tool, "-f", "1", "-l", "1", "-singlefile", "-png", "-scale-to", str(PREVIEW_SIZE), str(source), str(target)],
                check=True, timeout=_timeout(), capture_output=True, preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired as error:
            raise PreviewRefused(f"the PDF took longer than {_timeout():g} s to draw") from error
        except subprocess.CalledProcessError as error:
            raise PreviewRefused(error.stderr.decode(errors="replace")[:200] or "pdftoppm failed") from error
        page = target.with_suffix(".png")
        if not page.exists():
            raise PreviewRefused("pdftoppm drew no page")
        with Image.open(page) as image:
            image.load()
            return _to_png(image)
