"""What a file is, and where contents live.

The type is sniffed from the content with libmagic (python-magic over Debian's libmagic1), never
taken from the name or from what the browser said. libmagic and not a pure-Python table such as
`filetype`: the types that matter most here are the ones that could run in a browser (HTML, SVG,
XML, scripts), which are text, and only libmagic's maintained rules recognise those.

Contents are stored in the storage named "attachments" in settings.STORAGES (the local media
folder by default, an S3 bucket through django-storages when configured): never served from a
storage URL, only through the download view, which checks who may see the record.
"""
import logging

from django.core.files.storage import storages

try:
    import magic
except ImportError:  # python-magic is installed, but Debian's libmagic1 is not
    magic = None

logger = logging.getLogger(__name__)

# What the sniffer reads: enough for libmagic's rules for Office files (zip members at the start).
SNIFF_BYTES = 64 * 1024
# Types a browser shows without running anything: the only ones a download may offer inline. Any
# other type, HTML, SVG and scripts above all, is sent as an attachment to save.
INLINE_SAFE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})
IMAGE_PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff"})
PDF_TYPE = "application/pdf"
UNKNOWN_TYPE = "application/octet-stream"


# Without libmagic (a laptop without Debian's libmagic1): the few types that get previews, by their
# signatures; everything else is unknown, and so always downloaded, never shown.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"),
)


def libmagic_available() -> bool:
    return magic is not None


def sniff_type(head: bytes) -> str:
    """The MIME type of a content, from its first bytes."""
    if not head:
        return "application/x-empty"
    if magic is None:
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return "image/webp"
        return next((kind for signature, kind in SIGNATURES if head.startswith(signature)), UNKNOWN_TYPE)
    try:
        found = magic.from_buffer(head, mime=True)
    except magic.MagicException:
        return UNKNOWN_TYPE
    return (found or UNKNOWN_TYPE)[:100]


def can_show_inline(mime_type: str) -> bool:
    return mime_type in INLINE_SAFE_TYPES


def has_preview(mime_type: str) -> bool:
    return mime_type in IMAGE_PREVIEW_TYPES or mime_type == PDF_TYPE


def storage():
    return storages["attachments"]


def content_name(sha256: str, *, quarantined: bool = False) -> str:
    """Where a content lives in the storage: by hash, fanned out so that no folder grows too large."""
    folder = "quarantine" if quarantined else "contents"
    return f"{folder}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def preview_name(sha256: str) -> str:
    return f"previews/{sha256[:2]}/{sha256}.png"
