"""Meeting invitations to a deal's contacts (METHOD:REQUEST), their updates and cancellation,
sent through the rep's SMTP server (aiosmtpd) and read back with the icalendar library."""
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone
from icalendar import Calendar

from activities import services as activities
from mail.models import Invitation
from pipeline import services as pipeline_services
from pipeline.models import LostReason
from tests.mail.helpers import ANNA, connect_mailbox, customer_on_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting(smtp_server, rep, db):
    person, deal = customer_on_deal(rep)
    connect_mailbox(rep, type("S", (), {"host": "127.0.0.1", "port": 1})(), "rep@example.test", smtp_server.password,
                    smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    smtp_server.username = "rep@example.test"
    due = timezone.now().replace(microsecond=0) + timedelta(days=3)
    activity = activities.activity_create(actor=rep, deal=deal, kind="meeting", title="Demo at Kunde GmbH", due_at=due)
    return smtp_server, activity, deal


def _calendar(delivered) -> tuple[str, Calendar]:
    message = message_from_bytes(delivered["data"], policy=policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return part.get_param("method"), Calendar.from_ical(part.get_content())


def test_inviting_sends_a_request_to_the_deals_contacts(meeting, client, rep):
    smtp, activity, deal = meeting
    client.force_login(rep)
    response = client.post(f"/mail/meetings/{activity.pk}/invite/")
    assert response.status_code == 302
    (delivered,) = smtp.handler.messages
    assert delivered["to"] == [ANNA]
    method, calendar = _calendar(delivered)
    assert method == "REQUEST" and str(calendar["method"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert str(event["uid"]) == f"activity-{activity.pk}@stageflow" and int(event["sequence"]) == 0
    assert event.decoded("dtstart") == activity.due_at
    assert str(event["attendee"]) == f"mailto:{ANNA}"
    assert str(event["organizer"]) == "mailto:rep@example.test"
    assert Invitation.objects.get().attendees == [["Anna Berg", ANNA]]


def test_moving_the_meeting_sends_an_update_with_the_next_sequence(meeting, rep, django_capture_on_commit_callbacks):
    smtp, activity, deal = meeting
    from mail.invitations import meeting_invite

    meeting_invite(activity=activity, actor=rep)
    later = activity.due_at + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        activities.activity_update(activity=activity, actor=rep, due_at=later)
    assert len(smtp.handler.messages) == 2
    method, calendar = _calendar(smtp.handler.messages[1])
    event = calendar.walk("VEVENT")[0]
    assert method == "REQUEST" and int(event["sequence"]) == 1 and event.decoded("dtstart") == later
    # A change the invited do not see (the owner) sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        activities.activity_update(activity=activity, actor=rep, kind="meeting", owner=rep)
    assert len(smtp.handler.messages) == 2


def test_losing_the_deal_cancels_the_invitation(meeting, rep, django_capture_on_commit_callbacks):
    smtp, activity, deal = meeting
    from mail.invitations import meeting_invite

    meeting_invite(activity=activity, actor=rep)
    reason = LostReason.objects.create(name="Budget cut")
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_mark_lost(deal=deal, reason=reason, actor=rep)
    method, calendar = _calendar(smtp.handler.messages[-1])
    event = calendar.walk("VEVENT")[0]
    assert method == "CANCEL" and str(event["status"]) == "CANCELLED" and int(event["sequence"]) == 1
    assert Invitation.objects.get().cancelled_at is not None


def test_a_call_is_not_sent_as_an_invitation(meeting, client, rep):
    smtp, activity, deal = meeting
    call = activities.activity_create(actor=rep, deal=deal, kind="call", title="Call", due_at=activity.due_at)
    client.force_login(rep)
    client.post(f"/mail/meetings/{call.pk}/invite/")
    assert smtp.handler.messages == [] and not Invitation.objects.exists()
