"""Reading a raw e-mail into what Stageflow keeps, with the standard library's email package
(policy.default: RFC 2047 encoded words, MIME structure, charsets). Nothing here parses MIME by hand.

Mail from the wild is often broken: 8-bit headers in some local charset, unknown charsets, missing
dates or Message-IDs. Every field falls back to something readable instead of failing the sync.
HTML is sanitised with nh3 (an allow-list): no scripts, styles, event handlers, images or forms
survive, so nothing in a message can run or load anything in the reader's browser.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

import nh3

MAX_TEXT = 200_000
HTML_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}
HTML_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass
class ParsedMessage:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    sent_at: datetime | None
    text: str
    html: str
    attachments: list[ParsedAttachment] = field(default_factory=list)

    @property
    def addresses(self) -> set[str]:
        return {a for a in [self.from_address, *self.to, *self.cc] if a}


def text(value) -> str:
    """A header or body as clean text. Raw 8-bit bytes reach us as surrogate escapes: read them as
    UTF-8 when they are, else as Windows-1252 (what unlabelled European mail mostly is)."""
    if value is None:
        return ""
    value = str(value)
    try:
        value.encode("utf-8")
        clean = value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            clean = raw.decode("utf-8")
        except UnicodeDecodeError:
            clean = raw.decode("cp1252", "replace")
    return clean.replace("\x00", "")


def message_key(message_id: str) -> str:
    return hashlib.sha256(message_id.strip().lower().encode("utf-8", "surrogateescape")).hexdigest()


def _raw_header(message: EmailMessage, name: str) -> str:
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            return value
    return ""


def _header(message: EmailMessage, name: str) -> str:
    """The decoded header. Undeclared 8-bit bytes (not UTF-8) come out of the policy as U+FFFD;
    then the raw value is read as Windows-1252 instead (text())."""
    try:
        value = str(message.get(name, ""))
    except Exception:  # a header so broken that the policy cannot even fold it  # noqa: BLE001
        value = "\ufffd"
    if "\ufffd" in value:
        raw = _raw_header(message, name)
        if raw and "=?" not in raw:
            value = raw
    return " ".join(text(value).split())


def _addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    """[(display name, lower-case address)] of an address header."""
    try:
        header = message.get(name)
        if header is None:
            return []
        found = [(text(a.display_name), text(a.addr_spec).lower()) for a in getattr(header, "addresses", ())]
    except Exception:  # noqa: BLE001  broken header: the classic parser is more forgiving
        found = [(text(n), text(a).lower()) for n, a in getaddresses([_header(message, name)])]
    return [(n, a) for n, a in found if "@" in a and a != "<>"]


def _ids(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", " ").split() if part.strip().startswith("<")]


def _date(message: EmailMessage) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt_timezone.utc)


def _content(part) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):  # unknown or lying charset
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("cp1252", "replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return text(content)[:MAX_TEXT]


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def html_to_text(html: str) -> str:
    return " ".join(nh3.clean(html, tags=set()).split())


def parse(raw: bytes) -> ParsedMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = sanitize_html(_content(html_part)) if html_part is not None else ""
    body = _content(text_part) if text_part is not None else (html_to_text(html) if html else "")
    sender = _addresses(message, "From")
    message_id = _header(message, "Message-ID")
    if not message_id:
        # No Message-ID: the same raw headers always give the same key, so a re-sync finds it again.
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        message_id = "<stageflow-" + hashlib.sha256(head).hexdigest() + "@no-message-id>"
    attachments = []
    for part in message.iter_attachments():
        try:
            content = part.get_content()
        except (LookupError, UnicodeError, AssertionError):
            content = part.get_payload(decode=True) or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        elif not isinstance(content, bytes):  # an attached message
            content = bytes(content)
        attachments.append(ParsedAttachment(
            filename=text(part.get_filename() or "")[:255], content_type=part.get_content_type(), content=content,
        ))
    return ParsedMessage(
        message_id=message_id[:998],
        in_reply_to=_header(message, "In-Reply-To"),
        references=_ids(_header(message, "References")),
        subject=_header(message, "Subject")[:500],
        from_address=sender[0][1] if sender else "",
        from_name=sender[0][0][:200] if sender else "",
        to=[a for _, a in _addresses(message, "To")],
        cc=[a for _, a in _addresses(message, "Cc")],
        sent_at=_date(message),
        text=body,
        html=html,
        attachments=attachments,
    )


def formataddr(name: str, address: str) -> str:
    return str(Address(display_name=name, addr_spec=address))
