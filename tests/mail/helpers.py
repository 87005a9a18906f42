"""Building mail and putting it on the test IMAP server."""
from __future__ import annotations

import imaplib
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from pipeline.models import ContactRole
from pipeline.people import deal_contact_add, person_create
from tests.factories import DealFactory, OrganizationFactory

ANNA = "anna.berg@kunde.example"


def message(*, sender=ANNA, to="rep@example.test", subject="Your offer", body="Hello", html=None, msgid=None,
            in_reply_to=None, date=None, attachments=()) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Message-ID"] = msgid or make_msgid(domain="kunde.example")
    m["Date"] = format_datetime(date or datetime.now(timezone.utc))
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
        m["References"] = in_reply_to
    m.set_content(body)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for name, content in attachments:
        m.add_attachment(content, maintype="application", subtype="octet-stream", filename=name)
    return m


def deliver(server, username, password, raw, *, folder="INBOX", date=None) -> None:
    if isinstance(raw, EmailMessage):
        raw = raw.as_bytes()
    with imaplib.IMAP4(server.host, server.port) as imap:
        imap.login(username, password)
        when = imaplib.Time2Internaldate(time.mktime((date or datetime.now()).timetuple()))
        typ, data = imap.append(folder, None, when, raw)
        assert typ == "OK", data


def expunge(server, username, password, uids, *, folder="INBOX") -> None:
    with imaplib.IMAP4(server.host, server.port) as imap:
        imap.login(username, password)
        imap.select(folder)
        for uid in uids:
            imap.uid("STORE", str(uid), "+FLAGS", r"(\Deleted)")
        imap.expunge()


def recreate_folder(server, username, password, folder) -> None:
    with imaplib.IMAP4(server.host, server.port) as imap:
        imap.login(username, password)
        assert imap.delete(folder)[0] == "OK"
        assert imap.create(folder)[0] == "OK"


def customer_on_deal(owner, *, address=ANNA, name="Anna Berg"):
    """A person with `address`, at an organisation, on an open deal of `owner`: (person, deal)."""
    organization = OrganizationFactory(name="Kunde GmbH", owner=owner)
    deal = DealFactory(owner=owner, organization=organization, title="Kunde GmbH — CRM rollout")
    person = person_create(actor=owner, name=name, organization=organization, owner=owner, emails=[address])
    deal_contact_add(deal=deal, person=person, role=ContactRole.objects.order_by("position").first(), actor=owner)
    return person, deal


def connect_mailbox(user, server, username, password, **values):
    from mail import services

    defaults = {
        "email_address": username, "username": username, "imap_host": server.host, "imap_port": server.port,
        "imap_security": "none", "smtp_host": "127.0.0.1", "smtp_port": 25, "smtp_security": "none",
        "sync_days": 30,
    }
    return services.mailbox_save(user=user, values={**defaults, **values}, secret=password)
