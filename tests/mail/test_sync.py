"""Syncing a rep's mailbox from a real IMAP server (Dovecot): what is kept, linked and never twice."""
import logging
from datetime import datetime, timedelta

import pytest

from mail import sync
from mail.models import AttachmentBlob, FolderState, Message, SyncProblem, Thread
from tests.mail.helpers import ANNA, connect_mailbox, customer_on_deal, deliver, expunge, message, recreate_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(imap_account, rep):
    server, username, password = imap_account
    person, deal = customer_on_deal(rep)
    mailbox = connect_mailbox(rep, server, username, password)
    return server, username, password, mailbox, person, deal


def test_first_sync_keeps_mail_with_known_people_and_files_it_on_person_deal_and_organisation(account):
    server, username, password, mailbox, person, deal = account
    deliver(server, username, password, message(subject="About the offer", to=username))
    deliver(server, username, password, message(sender="stranger@nowhere.example", to=username, subject="Newsletter"))
    deliver(server, username, password, message(subject="Long ago", to=username), date=datetime.now() - timedelta(days=90))

    result = sync.mailbox_sync(mailbox)

    assert result.problem == ""
    assert result.stored == 1 and result.skipped == 1  # the 90-day-old one is outside the first window
    thread = Thread.objects.get()
    assert thread.subject == "About the offer" and thread.owner == mailbox.user
    assert list(thread.persons.all()) == [person]
    assert list(thread.deals.all()) == [deal]
    assert list(thread.organizations.all()) == [deal.organization]
    assert not Message.objects.filter(subject="Newsletter").exists()
    mailbox.refresh_from_db()
    assert mailbox.last_sync_at is not None and mailbox.problem == ""


def test_incremental_sync_reads_only_new_messages_and_a_rerun_fetches_nothing(account, monkeypatch):
    server, username, password, mailbox, person, deal = account
    first = message(subject="Offer", to=username)
    deliver(server, username, password, first)
    assert sync.mailbox_sync(mailbox).stored == 1
    deliver(server, username, password, message(subject="Re: Offer", to=username, in_reply_to=first["Message-ID"]))

    fetched = []
    real_fetch = sync.IMAPClient.fetch
    monkeypatch.setattr(sync.IMAPClient, "fetch", lambda self, uids, data, *a, **k: fetched.append(list(uids)) or real_fetch(self, uids, data, *a, **k))
    result = sync.mailbox_sync(mailbox)
    assert (result.stored, result.known) == (1, 0)
    assert fetched == [[2], [2]]  # headers, then the message: only the new UID
    assert Thread.objects.count() == 1  # the reply is on the first message's thread
    assert Thread.objects.get().message_count == 2

    fetched.clear()
    again = sync.mailbox_sync(mailbox)
    assert (again.stored, again.known, fetched) == (0, 0, [])
    assert Message.objects.count() == 2


def test_a_message_arriving_during_a_sync_is_read_by_the_next_one_once(account, monkeypatch):
    server, username, password, mailbox, person, deal = account
    monkeypatch.setattr(sync, "BATCH_SIZE", 2)
    for n in range(3):
        deliver(server, username, password, message(subject=f"Mail {n}", to=username))

    def arrives(folder, uids):
        if folder == "INBOX" and uids[0] == 1:
            deliver(server, username, password, message(subject="Arrived meanwhile", to=username))

    first = sync.mailbox_sync(mailbox, on_batch=arrives)
    second = sync.mailbox_sync(mailbox)
    third = sync.mailbox_sync(mailbox)

    assert first.stored + second.stored == 4 and third.stored == 0
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Arrived meanwhile", "Mail 0", "Mail 1", "Mail 2"]


def test_a_message_deleted_between_search_and_fetch_is_passed_over(account):
    server, username, password, mailbox, person, deal = account
    for n in range(3):
        deliver(server, username, password, message(subject=f"Mail {n}", to=username))

    def deleted(folder, uids):
        if folder == "INBOX":
            expunge(server, username, password, [2])

    result = sync.mailbox_sync(mailbox, on_batch=deleted)
    assert result.problem == ""
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Mail 0", "Mail 2"]


def test_a_message_deleted_in_the_mailbox_after_its_sync_stays_on_the_deal(account):
    server, username, password, mailbox, person, deal = account
    deliver(server, username, password, message(subject="Keep me", to=username))
    sync.mailbox_sync(mailbox)
    expunge(server, username, password, [1])
    deliver(server, username, password, message(subject="Next", to=username))
    result = sync.mailbox_sync(mailbox)
    assert result.problem == "" and result.stored == 1
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Keep me", "Next"]


def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(account):
    server, username, password, mailbox, person, deal = account
    sent = [message(sender=username, to=ANNA, subject=f"Sent {n}") for n in range(2)]
    for m in sent:
        deliver(server, username, password, m, folder="Sent")
    assert sync.mailbox_sync(mailbox).stored == 2
    before = FolderState.objects.get(mailbox=mailbox, name="Sent").uidvalidity

    recreate_folder(server, username, password, "Sent")
    for m in [*sent, message(sender=username, to=ANNA, subject="Sent 2")]:
        deliver(server, username, password, m, folder="Sent")
    result = sync.mailbox_sync(mailbox)

    state = FolderState.objects.get(mailbox=mailbox, name="Sent")
    assert state.uidvalidity != before and state.last_uid == 3
    assert (result.stored, result.known) == (1, 2)
    assert Message.objects.count() == 3
    assert set(Message.objects.values_list("direction", flat=True)) == {"out"}
    assert set(Message.objects.values_list("uidvalidity", flat=True)) == {state.uidvalidity}


def test_a_wrong_password_is_said_in_words_and_never_logged(imap_account, rep, client, caplog):
    server, username, password = imap_account
    mailbox = connect_mailbox(rep, server, username, "not-the-password-42")
    with caplog.at_level(logging.DEBUG):
        result = sync.mailbox_sync(mailbox)
    assert result.problem == SyncProblem.AUTH
    assert "not-the-password-42" not in caplog.text
    client.force_login(rep)
    page = client.get("/mail/settings/").content.decode()
    assert "The server refused the user name or password." in page
    assert "not-the-password-42" not in page


def test_a_server_nobody_answers_on_is_said_in_words(rep, db):
    from tests.mail.servers import Dovecot, free_port

    mailbox = connect_mailbox(rep, Dovecot(dir=None, port=free_port()), "rep@example.test", "secret")
    assert sync.mailbox_sync(mailbox).problem == SyncProblem.CONNECT


def test_a_server_that_disappears_mid_sync_keeps_what_was_read_and_the_next_sync_goes_on(own_dovecot, rep, monkeypatch):
    username, password = own_dovecot.add_user()
    customer_on_deal(rep)
    mailbox = connect_mailbox(rep, own_dovecot, username, password)
    monkeypatch.setattr(sync, "BATCH_SIZE", 3)
    for n in range(7):
        deliver(own_dovecot, username, password, message(subject=f"Mail {n}", to=username))

    def vanish(folder, uids):
        if uids[0] == 4:
            own_dovecot.crash()

    broken = sync.mailbox_sync(mailbox, on_batch=vanish)
    assert broken.problem == SyncProblem.LOST and broken.stored == 3
    mailbox.refresh_from_db()
    assert mailbox.problem == SyncProblem.LOST

    own_dovecot.start()
    resumed = sync.mailbox_sync(mailbox)
    assert resumed.problem == "" and resumed.stored == 4
    assert Message.objects.count() == 7
    mailbox.refresh_from_db()
    assert mailbox.problem == ""


def test_a_10_mb_attachment_is_stored_once_and_a_larger_than_allowed_one_only_named(account, settings):
    server, username, password, mailbox, person, deal = account
    big = bytes(range(256)) * (10_000_000 // 256)
    deliver(server, username, password, message(subject="Contract", to=username, attachments=[("contract.pdf", big)]))
    deliver(server, username, password, message(subject="Contract again", to=username, attachments=[("copy.pdf", big)]))
    sync.mailbox_sync(mailbox)
    assert AttachmentBlob.objects.count() == 1
    blob = AttachmentBlob.objects.get()
    assert blob.size == len(big) and bytes(blob.content) == big

    settings.STAGEFLOW = {**settings.STAGEFLOW, "MAIL_ATTACHMENT_MAX_BYTES": 1_000_000}
    deliver(server, username, password, message(subject="Huge", to=username, attachments=[("video.bin", big + b"x")]))
    sync.mailbox_sync(mailbox)
    huge = Message.objects.get(subject="Huge").attachments.get()
    assert (huge.filename, huge.size, huge.blob) == ("video.bin", len(big) + 1, None)
    assert AttachmentBlob.objects.count() == 1


def test_html_with_scripts_is_sanitised_before_it_is_stored_and_shown(account, client, rep):
    server, username, password, mailbox, person, deal = account
    html = (
        '<p onclick="steal()">Dear rep,<script>alert("x")</script></p>'
        '<a href="javascript:alert(1)">click</a><img src="https://tracker.example/pixel.gif">'
        '<style>body{display:none}</style><iframe src="https://evil.example"></iframe><b>Offer accepted</b>'
    )
    deliver(server, username, password, message(subject="HTML", to=username, html=html))
    sync.mailbox_sync(mailbox)
    stored = Message.objects.get().body_html
    for bad in ("<script", "alert", "onclick", "javascript:", "<img", "tracker.example", "<style", "<iframe"):
        assert bad not in stored
    assert "<b>Offer accepted</b>" in stored
    client.force_login(rep)
    page = client.get(f"/mail/threads/{Message.objects.get().thread_id}/").content.decode()
    assert "<b>Offer accepted</b>" in page and "alert(" not in page


def test_non_utf8_headers_are_read(account):
    server, username, password, mailbox, person, deal = account
    raw = (
        b"From: =?iso-8859-1?q?Anna_M=FCller?= <" + ANNA.encode() + b">\r\n"
        b"To: " + username.encode() + b"\r\n"
        b"Subject: Angebot f\xfcr die Gr\xf6\xdfe\r\n"  # raw Latin-1, no encoded word
        b"Message-ID: <latin1@kunde.example>\r\n"
        b"Date: Mon, 7 Dec 2026 09:00:00 +0100\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        b"Gr\xfc\xdfe aus M\xfcnchen\r\n"
    )
    deliver(server, username, password, raw)
    assert sync.mailbox_sync(mailbox).stored == 1
    stored = Message.objects.get()
    assert stored.subject == "Angebot für die Größe"
    assert stored.from_name == "Anna Müller"
    assert stored.body_text.strip() == "Grüße aus München"


def test_mail_is_filed_only_on_the_deals_its_owner_sees(account):
    from pipeline.models import ContactRole
    from pipeline.people import deal_contact_add
    from tests.factories import DealFactory, TeamFactory, UserFactory

    server, username, password, mailbox, person, deal = account
    olga = UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))
    their_deal = DealFactory(owner=olga, organization=deal.organization, title="South's deal with Anna")
    deal_contact_add(deal=their_deal, person=person, role=ContactRole.objects.order_by("position").first(), actor=olga)
    deliver(server, username, password, message(subject="Only for us", to=username))
    sync.mailbox_sync(mailbox)
    assert list(Thread.objects.get().deals.all()) == [deal]
