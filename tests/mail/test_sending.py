"""Writing from a deal or person: templates with merge fields, preview, the rep's SMTP server
(aiosmtpd), a copy in their Sent folder (Dovecot) and the thread on the deal's timeline."""
import imaplib
from decimal import Decimal
from email import message_from_bytes, policy

import pytest

from mail import sync
from mail.models import Direction, Message, MailTemplate, Thread
from pipeline.models import Person
from tests.mail.helpers import ANNA, connect_mailbox, customer_on_deal, deliver, message

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending(imap_account, smtp_server, rep):
    server, username, password = imap_account
    smtp_server.username, smtp_server.password = username, password
    rep.first_name, rep.last_name = "Rita", "Rep"
    rep.save()
    person, deal = customer_on_deal(rep)
    deal.amount, deal.currency = Decimal("12500.00"), "EUR"
    deal.save()
    mailbox = connect_mailbox(rep, server, username, password, smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    return server, smtp_server, mailbox, person, deal


def _sent_folder(server, username, password) -> list[bytes]:
    with imaplib.IMAP4(server.host, server.port) as imap:
        imap.login(username, password)
        imap.select("Sent")
        _, data = imap.search(None, "ALL")
        found = []
        for number in data[0].split():
            _, parts = imap.fetch(number, "(BODY.PEEK[])")
            found.append(parts[0][1])
        return found


def test_preview_fills_in_merge_fields_and_sends_nothing(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    client.force_login(rep)
    response = client.post(f"/mail/deals/{deal.pk}/compose/", {
        "to": ANNA, "subject": "About {{ deal_title }}", "body": "Dear {{ contact_first_name }}, {{ deal_amount }} for {{ organization }}. {{ sender_name }}",
        "action": "preview",
    })
    page = response.content.decode().replace("\xa0", " ")  # the amount keeps its currency on its line
    assert response.status_code == 200
    assert "About Kunde GmbH — CRM rollout" in page
    assert "Dear Anna, €12,500.00 for Kunde GmbH. Rita Rep" in page
    assert smtp.handler.messages == [] and not Message.objects.exists()


def test_an_unknown_merge_field_is_named_and_the_mail_cannot_be_sent(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    client.force_login(rep)
    response = client.post(f"/mail/deals/{deal.pk}/compose/", {"to": ANNA, "subject": "Hi", "body": "{{ contact_nmae }}", "action": "send"})
    assert "contact_nmae" in response.content.decode()
    assert smtp.handler.messages == []


def test_sending_from_a_deal_goes_through_the_reps_smtp_into_sent_and_onto_the_deals_timeline(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    client.force_login(rep)
    response = client.post(f"/mail/deals/{deal.pk}/compose/", {"to": ANNA, "subject": "Offer {{ deal_title }}", "body": "Hello {{ contact_first_name }}", "action": "send"})
    assert response.status_code == 302

    (delivered,) = smtp.handler.messages
    assert delivered["to"] == [ANNA] and delivered["from"] == mailbox.email_address
    sent = message_from_bytes(delivered["data"], policy=policy.default)
    assert sent["Subject"] == "Offer Kunde GmbH — CRM rollout"
    assert sent.get_content().strip() == "Hello Anna"  # no tracking pixel, no footer, no rewritten link
    assert "Rita Rep" in sent["From"]

    (copy,) = _sent_folder(server, mailbox.username, "secret")
    assert sent["Message-ID"].encode() in copy
    stored = Message.objects.get()
    assert stored.direction == Direction.OUT and stored.folder == "Sent"
    assert list(stored.thread.deals.all()) == [deal] and list(stored.thread.persons.all()) == [person]
    assert "Offer Kunde GmbH — CRM rollout" in client.get(deal.get_absolute_url()).content.decode()

    # The customer answers: the reply lands on the same thread; the Sent copy is not kept twice.
    deliver(server, mailbox.username, "secret", message(subject="Re: Offer", to=mailbox.email_address, in_reply_to=sent["Message-ID"]))
    result = sync.mailbox_sync(mailbox)
    assert (result.stored, result.known) == (1, 1)
    assert Thread.objects.count() == 1 and Thread.objects.get().message_count == 2


def test_a_german_template_is_merged_in_german(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    Person.objects.filter(pk=person.pk).update(language="de")
    template = MailTemplate.objects.create(name="Angebot", language="de", subject="Angebot: {{ deal_title }}", body="Guten Tag {{ contact_name }}, {{ deal_amount }}.")
    client.force_login(rep)
    form = client.get(f"/mail/deals/{deal.pk}/compose/?template={template.pk}").content.decode()
    assert "Guten Tag {{ contact_name }}" in form
    response = client.post(f"/mail/deals/{deal.pk}/compose/", {"to": ANNA, "subject": template.subject, "body": template.body, "action": "preview"})
    page = response.content.decode().replace("\xa0", " ")  # the amount keeps its currency on its line
    assert "Guten Tag Anna Berg, 12.500,00 €." in page, page[page.find("data-preview-body"):][:300]


def test_the_default_templates_exist_in_english_and_german(db):
    assert {"en", "de"} <= set(MailTemplate.objects.values_list("language", flat=True))


def test_a_refused_smtp_password_is_said_in_words_and_nothing_is_kept(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    smtp.password = "changed-on-the-server"
    client.force_login(rep)
    response = client.post(f"/mail/deals/{deal.pk}/compose/", {"to": ANNA, "subject": "Hi", "body": "Hi", "action": "send"})
    assert response.status_code == 400
    assert "The server refused the user name or password." in response.content.decode()
    assert not Message.objects.exists() and smtp.handler.messages == []


def test_writing_from_a_person_offers_only_their_addresses(sending, client, rep):
    server, smtp, mailbox, person, deal = sending
    client.force_login(rep)
    response = client.post(f"/mail/people/{person.pk}/compose/", {"to": "someone@else.example", "subject": "Hi", "body": "Hi", "action": "send"})
    assert response.status_code == 400 and smtp.handler.messages == []
    response = client.post(f"/mail/people/{person.pk}/compose/", {"to": ANNA, "subject": "Hi", "body": "Hi", "action": "send"})
    assert response.status_code == 302 and len(smtp.handler.messages) == 1
    assert list(Message.objects.get().thread.persons.all()) == [person]


def test_without_a_mailbox_the_page_says_to_connect_one(client, rep, deal):
    client.force_login(rep)
    page = client.get(f"/mail/deals/{deal.pk}/compose/").content.decode()
    assert "Connect your mailbox first" in page
