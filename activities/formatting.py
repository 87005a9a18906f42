"""Safe formatting of notes: a small Markdown-like subset, escaped first and sanitised last.

Supported: paragraphs (blank line), line breaks, `- ` bullet lists, **bold**, *italic*, `code`,
[text](https://…) links and bare http(s) URLs. Everything the rep typed is HTML-escaped before
any markup is added, and the result goes through nh3 (an allow-list HTML sanitiser) so that
no tag, attribute or URL scheme outside the list can reach the page even if the converter has
a bug: no <script>, no event handlers, no javascript: URLs.
"""
import html
import re

import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {"p", "br", "strong", "em", "code", "a", "ul", "li"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_LENGTH = 20_000

# URLs are matched in the escaped text: "&amp;" is the only entity a URL may contain; "&lt;",
# "&gt;", "&quot;" and "&#x27;" end it, so an escaped quote or tag can never become part of a link.
_URL_CHAR = r"(?:&amp;|[^\s&<>\"'()\[\]])"
_LINK = re.compile(
    r"\[(?P<text>[^\]\n]{1,200})\]\((?P<href>(?:https?://|mailto:)" + _URL_CHAR + r"+)\)"
    r"|(?P<bare>https?://" + _URL_CHAR + r"*(?:&amp;|[^\s&<>\"'()\[\].,;:!?]))"
)
_BULLET = re.compile(r"^\s*[-*]\s+")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\*\w])")


def _inline_format(escaped: str) -> str:
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def _inline(text: str) -> str:
    """One line: escape, then links, then emphasis outside the links."""
    escaped = html.escape(text, quote=True)
    out, last = [], 0
    for match in _LINK.finditer(escaped):
        out.append(_inline_format(escaped[last : match.start()]))
        if match.group("bare"):
            href = label = match.group("bare")
        else:
            href, label = match.group("href"), _inline_format(match.group("text"))
        out.append(f'<a href="{href}">{label}</a>')
        last = match.end()
    out.append(_inline_format(escaped[last:]))
    return "".join(out)


def _block(lines: list[str]) -> str:
    if all(_BULLET.match(line) for line in lines):
        items = "".join("<li>" + _inline(_BULLET.sub("", line)) + "</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return "<p>" + "<br>".join(_inline(line) for line in lines) + "</p>"


def render_note(body: str) -> SafeString:
    """The note as safe HTML."""
    text = (body or "")[:MAX_LENGTH].replace("\r\n", "\n").replace("\r", "\n")
    blocks, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    markup = "".join(_block(lines) for lines in blocks)
    cleaned = nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308  escaped above and sanitised by nh3's allow-list
