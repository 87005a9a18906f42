"""The private iCalendar feed of a user's activities."""
from datetime import timedelta

import pytest
from django.utils import timezone
from icalendar import Calendar

from activities import services as activities
from mail.models import CalendarFeed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _feed(client, token):
    response = client.get(f"/mail/calendar/{token}.ics")
    return response, (Calendar.from_ical(response.content) if response.status_code == 200 else None)


def test_the_feed_lists_the_users_own_activities_and_nobody_elses(client, rep, deal):
    due = timezone.now() + timedelta(days=1)
    mine = activities.activity_create(actor=rep, deal=deal, kind="meeting", title="Demo at Kunde GmbH", due_at=due, note="Bring the contract")
    other = UserFactory(username="olga", role="rep")
    activities.activity_create(actor=other, person=None, deal=deal, owner=other, kind="call", title="Olga's call", due_at=due)
    client.force_login(rep)
    client.post("/mail/calendar/renew/")
    token = CalendarFeed.objects.get(user=rep).token
    client.logout()

    response, calendar = _feed(client, token)  # no sign-in: calendar apps cannot
    assert response["Content-Type"].startswith("text/calendar")
    events = calendar.walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Demo at Kunde GmbH"]
    event = events[0]
    assert str(event["uid"]) == f"activity-{mine.pk}@stageflow"
    assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(hours=1)
    assert str(event["description"]) == "Bring the contract"
    assert str(event["url"]).endswith(deal.get_absolute_url())


def test_a_new_link_stops_the_old_one_and_a_revoked_link_answers_nothing(client, rep):
    client.force_login(rep)
    client.post("/mail/calendar/renew/")
    old = CalendarFeed.objects.get(user=rep).token
    assert old in client.get("/mail/settings/").content.decode()
    client.post("/mail/calendar/renew/")
    new = CalendarFeed.objects.get(user=rep).token
    assert new != old
    assert client.get(f"/mail/calendar/{old}.ics").status_code == 404
    assert client.get(f"/mail/calendar/{new}.ics").status_code == 200
    client.post("/mail/calendar/revoke/")
    assert client.get(f"/mail/calendar/{new}.ics").status_code == 404


def test_the_feed_of_a_user_who_left_answers_nothing(client, rep):
    feed = CalendarFeed.objects.create(user=rep)
    rep.is_active = False
    rep.save()
    assert client.get(f"/mail/calendar/{feed.token}.ics").status_code == 404
