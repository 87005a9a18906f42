"""What the mail app follows (outbox handlers, carried out after the change commits)."""
from activities.signals import activities_changed


@activities_changed.handler("mail.meeting_invitations")
def meeting_invitations(*, activity_ids, kind, fields=None, **payload):
    from . import invitations

    invitations.invitations_follow(activity_ids=activity_ids, kind=kind, fields=fields)
