"""Meeting invitations: a meeting on a deal is sent to the deal's contacts as an iCalendar
METHOD:REQUEST from the rep's own mailbox; when the meeting changes (time, title, text) the
invited get the update (the same UID, the next SEQUENCE), and when it is cancelled (its deal was
lost) a METHOD:CANCEL. Updates and cancellations follow activities.changed after commit (outbox)."""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from activities.models import Activity, ActivityKind
from pipeline.models import PersonEmail

from . import calendar, parsing, sending
from .models import Invitation
from .services import MailboxRefused

logger = logging.getLogger(__name__)

# A change of these fields is worth an update in the invited people's calendars.
UPDATE_FIELDS = {"due_at", "title", "note"}


def deal_attendees(activity: Activity) -> list[tuple[str, str]]:
    """(name, address) of each contact on the meeting's deal: their first e-mail address."""
    seen, attendees = set(), []
    emails = PersonEmail.objects.filter(person__deal_contacts__deal_id=activity.deal_id, person__erased_at__isnull=True)
    for email in emails.select_related("person").order_by("person__name", "person_id", "position", "pk"):
        if email.person_id not in seen:
            seen.add(email.person_id)
            attendees.append((email.person.name, email.address))
    return attendees


def _send(invitation: Invitation, activity: Activity, *, cancel: bool = False) -> None:
    sender = invitation.sender
    mailbox = sending.sender_mailbox(sender)
    name = sender.get_full_name() or sender.get_username()
    ics = calendar.invitation(activity, organizer_name=name, organizer_email=mailbox.email_address,
                              attendees=[tuple(a) for a in invitation.attendees], sequence=invitation.sequence, cancel=cancel)
    when = timezone.localtime(activity.due_at).strftime("%Y-%m-%d %H:%M %Z")
    if cancel:
        subject, text = _("Cancelled: %(title)s") % {"title": activity.title}, _("The meeting “%(title)s” on %(when)s is cancelled.")
    elif invitation.sequence:
        subject, text = _("Updated: %(title)s") % {"title": activity.title}, _("The meeting “%(title)s” is now on %(when)s.")
    else:
        subject, text = _("Invitation: %(title)s") % {"title": activity.title}, _("You are invited to “%(title)s” on %(when)s.")
    message = sending.build(
        mailbox=mailbox, sender=sender, to=", ".join(parsing.formataddr(n, a) for n, a in invitation.attendees),
        subject=subject, body=(text % {"title": activity.title, "when": when}) + ("\n\n" + activity.note if activity.note and not cancel else ""),
    )
    message.add_alternative(ics.decode(), subtype="calendar", params={"method": "CANCEL" if cancel else "REQUEST"})
    sending.deliver(mailbox, message)


def meeting_invite(*, activity: Activity, actor) -> Invitation:
    """Invites the deal's contacts to the meeting (again, with the next version, when they were)."""
    if activity.kind != ActivityKind.MEETING or not activity.deal_id:
        raise MailboxRefused(_("Only meetings on a deal can be sent as invitations."))
    if activity.done_at is not None:
        raise MailboxRefused(_("This meeting is over or cancelled."))
    attendees = deal_attendees(activity)
    if not attendees:
        raise MailboxRefused(_("Nobody on this deal has an e-mail address to invite."))
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(activity=activity).first()
        if invitation is None:
            invitation = Invitation(activity=activity, sender=actor, attendees=attendees, sequence=0)
        else:
            invitation.sequence += 1
            invitation.sender, invitation.attendees, invitation.cancelled_at = actor, attendees, None
        _send(invitation, activity)
        invitation.sent_at = timezone.now()
        invitation.save()
    return invitation


def invitations_follow(*, activity_ids: list[int], kind: str, fields: list[str] | None = None) -> int:
    """Sends the update or cancellation of every invitation of these activities; returns how many."""
    if kind == "updated" and not UPDATE_FIELDS & set(fields or ()):
        return 0
    sent = 0
    for invitation in Invitation.objects.filter(activity_id__in=activity_ids, cancelled_at__isnull=True).select_related("activity", "sender").order_by("pk"):
        with transaction.atomic():
            locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
            if locked.cancelled_at is not None:
                continue
            locked.sequence += 1
            cancel = kind == "cancelled"
            _send(locked, invitation.activity, cancel=cancel)
            locked.sent_at = timezone.now()
            if cancel:
                locked.cancelled_at = locked.sent_at
            locked.save()
            sent += 1
    return sent
