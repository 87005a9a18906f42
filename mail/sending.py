"""Sending an e-mail from Stageflow through the rep's own SMTP server, keeping a copy in their
Sent folder (IMAP APPEND) and on the thread of the deal or person it was written from.

The message is built with the standard library (email.message.EmailMessage, policy.default). It
carries no tracking of any kind: no pixel, no rewritten links. Its Message-ID is kept, so that the
customer's reply (In-Reply-To) lands on the same thread when the mailbox is synced.
"""
from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _, gettext_lazy

from localization import formatting as localization_formatting

from . import crypto, parsing, sync
from .models import AuthMethod, Direction, Mailbox, Security, SyncProblem
from .services import MailboxRefused

logger = logging.getLogger(__name__)

MERGE_FIELDS = {
    "contact_name": gettext_lazy("the contact's full name"),
    "contact_first_name": gettext_lazy("the contact's first name"),
    "organization": gettext_lazy("the organisation's name"),
    "deal_title": gettext_lazy("the deal's title"),
    "deal_amount": gettext_lazy("the deal's amount with its currency"),
    "sender_name": gettext_lazy("your name"),
}
_FIELD = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass
class Merged:
    subject: str
    body: str
    unknown: list[str]


def merge_values(*, sender, person=None, deal=None, language: str = "") -> dict[str, str]:
    organization = (deal.organization if deal is not None and deal.organization_id else None) or (
        person.organization if person is not None and person.organization_id else None
    )
    amount = ""
    if deal is not None and deal.amount is not None:
        with translation.override(language or translation.get_language()):
            amount = localization_formatting.money(deal.amount, deal.currency, 2)
    name = person.name if person is not None else ""
    return {
        "contact_name": name,
        "contact_first_name": name.split()[0] if name.split() else "",
        "organization": organization.name if organization is not None else "",
        "deal_title": deal.title if deal is not None else "",
        "deal_amount": amount,
        "sender_name": sender.get_full_name() or sender.get_username(),
    }


def merge(text: str, values: dict[str, str]) -> tuple[str, set[str]]:
    unknown = set()

    def replace(match):
        name = match.group(1)
        if name not in values:
            unknown.add(name)
            return match.group(0)
        return values[name]

    return _FIELD.sub(replace, text), unknown


def merge_message(*, subject: str, body: str, values: dict[str, str]) -> Merged:
    merged_subject, unknown_subject = merge(subject, values)
    merged_body, unknown_body = merge(body, values)
    return Merged(subject=merged_subject, body=merged_body, unknown=sorted(unknown_subject | unknown_body))


def build(*, mailbox: Mailbox, sender, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = parsing.formataddr(sender.get_full_name(), mailbox.email_address)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(domain=mailbox.email_address.rsplit("@", 1)[-1])
    message.set_content(body)
    return message


def _smtp(mailbox: Mailbox, secret: str) -> smtplib.SMTP:
    timeout = settings.STAGEFLOW["MAIL_TIMEOUT"]
    context = ssl.create_default_context()
    if mailbox.smtp_security == Security.SSL:
        smtp = smtplib.SMTP_SSL(mailbox.smtp_host, mailbox.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=timeout)
        if mailbox.smtp_security == Security.STARTTLS:
            smtp.starttls(context=context)
    if mailbox.auth_method == AuthMethod.XOAUTH2:
        token = f"user={mailbox.username}\x01auth=Bearer {secret}\x01\x01"
        smtp.auth("XOAUTH2", lambda challenge=None: token)
    else:
        smtp.login(mailbox.username, secret)
    return smtp


def sender_mailbox(sender) -> Mailbox:
    mailbox = Mailbox.objects.filter(user=sender).first()
    if mailbox is None:
        raise MailboxRefused(_("Connect your mailbox first: mail is sent through your own server."))
    return mailbox


def deliver(mailbox: Mailbox, message: EmailMessage) -> None:
    """Hands the message to the mailbox's SMTP server; MailboxRefused says in words why it could not."""
    try:
        secret = crypto.decrypt(mailbox.secret)
    except (crypto.NoKey, crypto.CannotDecrypt):
        raise MailboxRefused(SyncProblem.NO_KEY.label) from None
    try:
        smtp = _smtp(mailbox, secret)
        try:
            smtp.send_message(message)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except smtplib.SMTPAuthenticationError:
        raise MailboxRefused(SyncProblem.AUTH.label) from None
    except smtplib.SMTPException:
        logger.warning("Mailbox %s: the SMTP server refused a message", mailbox.pk)
        raise MailboxRefused(SyncProblem.SEND.label) from None
    except ssl.SSLError:
        raise MailboxRefused(SyncProblem.TLS.label) from None
    except (socket.timeout, TimeoutError):
        raise MailboxRefused(SyncProblem.TIMEOUT.label) from None
    except OSError:
        raise MailboxRefused(SyncProblem.CONNECT.label) from None


def message_send(*, sender, to: str, subject: str, body: str, deal=None, person=None):
    """Sends through the sender's SMTP server, appends to their Sent folder and keeps the message on
    its thread (on `deal` and `person`). Refuses with a message in words when it cannot send;
    a copy that cannot be put into the Sent folder does not undo the sending (it is logged)."""
    mailbox = sender_mailbox(sender)
    message = build(mailbox=mailbox, sender=sender, to=to, subject=subject, body=body)
    deliver(mailbox, message)
    raw = message.as_bytes()
    folder = _append_to_sent(mailbox, raw)
    with transaction.atomic():
        stored = sync.store_message(mailbox=mailbox, raw=raw, folder=folder or "", uid=None, uidvalidity=None,
                                    direction=Direction.OUT)
        if stored is not None:
            if deal is not None:
                stored.thread.deals.add(deal)
                if deal.organization_id:
                    stored.thread.organizations.add(deal.organization_id)
            if person is not None:
                sync.link_thread(stored.thread, {person.pk})
    return stored


def _append_to_sent(mailbox: Mailbox, raw: bytes) -> str | None:
    try:
        client = sync.connect(mailbox)
    except sync.MailboxProblem as problem:
        logger.warning("Mailbox %s: sent mail not kept in the Sent folder (%s)", mailbox.pk, problem.problem)
        return None
    try:
        folder = sync.sent_folder(client, mailbox) or "Sent"
        client.append(folder, raw, flags=[b"\\Seen"], msg_time=timezone.now())
        return folder
    except Exception:  # noqa: BLE001  the mail is sent; keeping a copy is second
        logger.warning("Mailbox %s: sent mail not kept in the Sent folder", mailbox.pk)
        return None
    finally:
        sync._close(client)
