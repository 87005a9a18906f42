"""Reading a rep's mailbox over IMAP (imapclient) into threads on people, deals and organisations.

The first sync of a folder reads the last `sync_days` days; later ones only UIDs above the highest
UID read (FolderState), so a re-run fetches nothing twice. When the server's UIDVALIDITY changes
(the folder was rebuilt: its UIDs mean other messages now), the folder is read again from the
start of the window, and messages already kept are recognised by their Message-ID
(Message.message_key): nothing is stored twice.

Only mail with someone known is kept: the headers of each batch are read first, and the whole
message only when a From, To or Cc address is a person's (pipeline's PersonEmail). Each batch is
stored in one transaction together with the folder's new position, so a sync that breaks off
(the server goes away, the worker is killed) keeps what it read and goes on from there.

Problems are recorded on the mailbox in words (SyncProblem) and logged with the mailbox's id only:
never a password, never a message's text.
"""
from __future__ import annotations

import hashlib
import logging
import socket
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from pipeline.models import DealStatus, PersonEmail

from . import crypto, parsing
from .models import (
    Attachment, AttachmentBlob, AuthMethod, Direction, FolderState, Mailbox, Message, Security, SyncProblem, Thread,
)

logger = logging.getLogger(__name__)

# Messages per FETCH round trip (headers, then whole messages of the known ones).
BATCH_SIZE = 50
HEADER_FIELDS = b"BODY[HEADER.FIELDS (FROM TO CC)]"


class MailboxProblem(Exception):
    def __init__(self, problem: SyncProblem):
        super().__init__(problem.value)
        self.problem = problem


@dataclass
class SyncResult:
    stored: int = 0
    known: int = 0  # already kept (seen again after a UIDVALIDITY change, or in another folder)
    skipped: int = 0  # nobody known
    folders: list[str] = field(default_factory=list)
    problem: str = ""


def connect(mailbox: Mailbox) -> IMAPClient:
    """A signed-in IMAPClient, or MailboxProblem saying in words why not."""
    timeout = settings.STAGEFLOW["MAIL_TIMEOUT"]
    try:
        secret = crypto.decrypt(mailbox.secret)
    except (crypto.NoKey, crypto.CannotDecrypt):
        raise MailboxProblem(SyncProblem.NO_KEY) from None
    try:
        client = IMAPClient(
            mailbox.imap_host, port=mailbox.imap_port, ssl=mailbox.imap_security == Security.SSL,
            ssl_context=ssl.create_default_context(), timeout=timeout,
        )
        if mailbox.imap_security == Security.STARTTLS:
            client.starttls(ssl.create_default_context())
    except ssl.SSLError:
        raise MailboxProblem(SyncProblem.TLS) from None
    except (socket.timeout, TimeoutError):
        raise MailboxProblem(SyncProblem.TIMEOUT) from None
    except (OSError, IMAPClientError):
        raise MailboxProblem(SyncProblem.CONNECT) from None
    try:
        if mailbox.auth_method == AuthMethod.XOAUTH2:
            client.oauth2_login(mailbox.username, secret)
        else:
            client.login(mailbox.username, secret)
    except LoginError:
        _close(client)
        raise MailboxProblem(SyncProblem.AUTH) from None
    except (OSError, IMAPClientError):
        _close(client)
        raise MailboxProblem(SyncProblem.LOST) from None
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001  the connection may already be gone
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001  closing a dead socket: nothing is left to clean up
            pass


def sent_folder(client: IMAPClient, mailbox: Mailbox) -> str | None:
    if mailbox.sent_folder:
        return mailbox.sent_folder
    try:
        found = client.find_special_folder(b"\\Sent")
    except IMAPClientError:
        found = None
    return found


def mailbox_sync(mailbox: Mailbox, *, on_batch=None) -> SyncResult:
    """Reads the mailbox's INBOX and Sent folder. `on_batch(folder, uids)` is called before each
    batch is fetched (tests use it to change the server in the middle of a sync)."""
    result = SyncResult()
    try:
        client = connect(mailbox)
        try:
            folders = ["INBOX"]
            sent = sent_folder(client, mailbox)
            if sent and sent not in folders:
                folders.append(sent)
            for folder in folders:
                _sync_folder(client, mailbox, folder, result, on_batch)
                result.folders.append(folder)
        finally:
            _close(client)
    except MailboxProblem as exc:
        result.problem = exc.problem
    except (socket.timeout, TimeoutError):
        result.problem = SyncProblem.TIMEOUT
    except (OSError, IMAPClientAbortError, EOFError):
        result.problem = SyncProblem.LOST
    except IMAPClientError:
        result.problem = SyncProblem.PROTOCOL
    _record(mailbox, result)
    return result


def _record(mailbox: Mailbox, result: SyncResult) -> None:
    now = timezone.now()
    if result.problem:
        logger.warning("Mailbox %s: sync stopped (%s)", mailbox.pk, result.problem)
        fields = {"problem": result.problem}
        if mailbox.problem != result.problem:
            fields["problem_at"] = now
    else:
        fields = {"problem": "", "problem_at": None, "last_sync_at": now}
    Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
    for name, value in fields.items():
        setattr(mailbox, name, value)


def _sync_folder(client: IMAPClient, mailbox: Mailbox, folder: str, result: SyncResult, on_batch) -> None:
    info = client.select_folder(folder, readonly=True)
    uidvalidity = int(info[b"UIDVALIDITY"])
    state, _ = FolderState.objects.get_or_create(mailbox=mailbox, name=folder)
    if state.uidvalidity != uidvalidity:
        since = (timezone.now() - timedelta(days=mailbox.sync_days)).date()
        uids = client.search(["SINCE", since])
        state.uidvalidity, state.last_uid = uidvalidity, 0
    else:
        # "n:*" always matches the highest UID, even when it is below n: keep only the new ones.
        uids = [uid for uid in client.search(["UID", f"{state.last_uid + 1}:*"]) if uid > state.last_uid]
    uids = sorted(uids)
    own = mailbox.email_address.lower()
    for start in range(0, len(uids), BATCH_SIZE):
        batch = uids[start:start + BATCH_SIZE]
        if on_batch:
            on_batch(folder, batch)
        headers = client.fetch(batch, ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (FROM TO CC)]"])
        addresses_by_uid = {uid: _header_addresses(data.get(HEADER_FIELDS) or b"") - {own} for uid, data in headers.items()}
        people = _people_by_address(set().union(*addresses_by_uid.values()) if addresses_by_uid else set())
        wanted = [uid for uid in batch if addresses_by_uid.get(uid, set()) & people.keys()]
        result.skipped += len(headers) - len(wanted)
        bodies = client.fetch(wanted, ["BODY.PEEK[]", "INTERNALDATE"]) if wanted else {}
        with transaction.atomic():
            for uid in wanted:
                data = bodies.get(uid)
                if not data or not data.get(b"BODY[]"):
                    continue  # deleted between the search and the fetch
                stored = store_message(
                    mailbox=mailbox, raw=data[b"BODY[]"], folder=folder, uid=uid, uidvalidity=uidvalidity,
                    people=people, received_at=data.get(b"INTERNALDATE"),
                )
                if stored:
                    result.stored += 1
                else:
                    result.known += 1
            state.last_uid = max(state.last_uid, batch[-1])
            state.synced_at = timezone.now()
            state.save()
    if not uids:
        state.synced_at = timezone.now()
        state.save()


def _header_addresses(raw: bytes) -> set[str]:
    """The addresses of a message's From, To and Cc: whom it is with, to decide whether to fetch it.
    Read with the classic parser (compat32) and email.utils.getaddresses: only the addresses matter
    here, and it is some 30 times faster than policy.default's header objects, which the whole
    message gets when it is kept (bench/results/mail-sync.md)."""
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    values = [parsing.text(value) for name in ("From", "To", "Cc") for value in headers.get_all(name, [])]
    return {address.lower() for _, address in getaddresses(values) if "@" in address}


def _people_by_address(addresses: set[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    if not addresses:
        return found
    rows = PersonEmail.objects.filter(address__in=addresses, person__erased_at__isnull=True).values_list("address", "person_id")
    for address, person_id in rows:
        found.setdefault(address, []).append(person_id)
    return found


def store_message(*, mailbox: Mailbox, raw: bytes, folder: str, uid: int | None, uidvalidity: int | None,
                  people: dict[str, list[int]] | None = None, received_at=None, direction: str | None = None) -> Message | None:
    """Keeps one message on its thread and links the thread to the message's people, their open
    deals and their organisations. None when the message is kept already (its place is updated)."""
    parsed = parsing.parse(raw)
    key = parsing.message_key(parsed.message_id)
    existing = Message.objects.filter(owner_id=mailbox.user_id, message_key=key).first()
    if existing is not None:
        if (existing.folder, existing.uid, existing.uidvalidity) != (folder, uid, uidvalidity) and uid is not None:
            Message.objects.filter(pk=existing.pk).update(folder=folder, uid=uid, uidvalidity=uidvalidity)
        return None
    own = mailbox.email_address.lower()
    if people is None:
        people = _people_by_address(parsed.addresses - {own})
    person_ids = {pid for address in parsed.addresses - {own} for pid in people.get(address, ())}
    sent_at = parsed.sent_at or (timezone.make_aware(received_at) if received_at and timezone.is_naive(received_at) else received_at) or timezone.now()
    thread = _thread_for(mailbox, parsed, sent_at)
    message = Message.objects.create(
        owner_id=mailbox.user_id, thread=thread, message_key=key, message_id=parsed.message_id, folder=folder,
        uid=uid, uidvalidity=uidvalidity,
        direction=direction or (Direction.OUT if parsed.from_address == own else Direction.IN),
        subject=parsed.subject, from_address=parsed.from_address[:320], from_name=parsed.from_name,
        to_addresses=parsed.to, cc_addresses=parsed.cc, sent_at=sent_at, body_text=parsed.text, body_html=parsed.html,
        size=len(raw),
    )
    _store_attachments(message, parsed.attachments)
    Thread.objects.filter(pk=thread.pk).update(
        message_count=thread.messages.count(), last_at=max(thread.last_at, sent_at) if thread.message_count else sent_at,
    )
    link_thread(thread, person_ids, owner=mailbox.user)
    return message


def _thread_for(mailbox: Mailbox, parsed: parsing.ParsedMessage, sent_at) -> Thread:
    """The thread of the message it answers (In-Reply-To, then References), or a new one."""
    ids = [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
    if ids:
        keys = [parsing.message_key(i) for i in ids]
        earlier = {m.message_key: m.thread for m in Message.objects.filter(owner_id=mailbox.user_id, message_key__in=keys).select_related("thread")}
        for key in keys:
            if key in earlier:
                return earlier[key]
    return Thread.objects.create(
        owner_id=mailbox.user_id, subject=parsed.subject, is_private=not mailbox.share_by_default, last_at=sent_at,
    )


def link_thread(thread: Thread, person_ids: set[int], *, owner=None) -> None:
    """The thread is on these people, their open deals that the thread's owner sees (another team's
    deal with the same person does not get this rep's mail), and their organisations."""
    if not person_ids:
        return
    thread.persons.add(*person_ids)
    from pipeline.selectors import visible_deals

    owner = owner or thread.owner
    deals = visible_deals(owner).filter(contacts__person_id__in=person_ids, status=DealStatus.OPEN)
    deal_ids = deals.values_list("pk", flat=True).distinct()
    thread.deals.add(*deal_ids)
    from pipeline.models import Person

    organization_ids = Person.objects.filter(pk__in=person_ids, organization__isnull=False).values_list("organization_id", flat=True)
    thread.organizations.add(*set(organization_ids))


def _store_attachments(message: Message, attachments: list[parsing.ParsedAttachment]) -> None:
    limit = settings.STAGEFLOW["MAIL_ATTACHMENT_MAX_BYTES"]
    for attachment in attachments:
        blob = None
        size = len(attachment.content)
        if size <= limit:
            digest = hashlib.sha256(attachment.content).hexdigest()
            # get_or_create: two syncs storing the same file at once keep one copy.
            blob, _ = AttachmentBlob.objects.only("pk").get_or_create(
                sha256=digest, defaults={"size": size, "content": attachment.content},
            )
        Attachment.objects.create(
            message=message, filename=attachment.filename, content_type=attachment.content_type[:255], size=size, blob=blob,
        )
