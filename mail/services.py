"""Writes of the mail app: a user's mailbox settings, a sync run, a thread's privacy, the calendar
feed's link. (Messages are written by mail.sync and mail.sending.)"""
from __future__ import annotations

import logging

from django.db import transaction

from config.locks import cache_lock

from . import crypto
from .models import CalendarFeed, Mailbox, SyncProblem, Thread, new_feed_token

logger = logging.getLogger(__name__)

SYNC_LOCK_SECONDS = 30 * 60

MAILBOX_FIELDS = (
    "email_address", "imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port", "smtp_security", "username",
    "auth_method", "sent_folder", "sync_days", "share_by_default", "is_active",
)


class MailboxRefused(Exception):
    """A change that cannot be made; `message` is safe to show."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def mailbox_save(*, user, values: dict, secret: str = "") -> Mailbox:
    """Creates or changes the user's mailbox. `secret` (password or OAuth token) is encrypted; an
    empty one keeps the stored secret. A new connection clears the last problem: the next sync tells."""
    from django.utils.translation import gettext as _

    if secret and not crypto.is_configured():
        raise MailboxRefused(SyncProblem.NO_KEY.label)
    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update().filter(user=user).first()
        if mailbox is None:
            if not secret:
                raise MailboxRefused(_("Enter the password (or token) of the mailbox."))
            mailbox = Mailbox(user=user)
        for name in MAILBOX_FIELDS:
            if name in values:
                setattr(mailbox, name, values[name])
        if secret:
            mailbox.secret = crypto.encrypt(secret)
        mailbox.problem, mailbox.problem_at = "", None
        mailbox.save()
    return mailbox


def mailbox_disconnect(*, user) -> bool:
    """Forgets the mailbox's settings and secret; the mail already kept stays on its deals."""
    deleted, _ = Mailbox.objects.filter(user=user).delete()
    return bool(deleted)


def mailbox_sync_run(mailbox_id: int):
    """One sync of one mailbox, never two at once (the worker's task and the laptop's button call this)."""
    from . import sync

    with cache_lock(f"mail:sync:{mailbox_id}", timeout=SYNC_LOCK_SECONDS) as acquired:
        if not acquired:
            return None
        mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).select_related("user").first()
        if mailbox is None:
            return None
        return sync.mailbox_sync(mailbox)


def thread_set_private(*, thread: Thread, actor, private: bool) -> Thread:
    """Only the thread's owner marks it private (only they see it) or shared (it follows its deals)."""
    from django.utils.translation import gettext as _

    if thread.owner_id != actor.pk:
        raise MailboxRefused(_("Only the owner of the mailbox can share a thread or make it private."))
    if thread.is_private != private:
        Thread.objects.filter(pk=thread.pk).update(is_private=private)
        thread.is_private = private
    return thread


def calendar_feed_renew(*, user) -> CalendarFeed:
    """A new private link for the user's calendar feed; the old link stops working at once."""
    feed, created = CalendarFeed.objects.get_or_create(user=user)
    if not created:
        feed.token = new_feed_token()
        feed.save(update_fields=["token"])
    return feed


def calendar_feed_revoke(*, user) -> None:
    CalendarFeed.objects.filter(user=user).delete()
