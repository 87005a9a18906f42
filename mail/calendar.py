"""Calendar files (RFC 5545, written with the icalendar library; nothing here writes iCalendar by hand).

- The private feed of a user's activities, for any calendar app (a CalendarFeed's link).
- Meeting invitations to a deal's contacts (METHOD:REQUEST, and METHOD:CANCEL), with a SEQUENCE that
  grows with every update, so calendar apps replace the earlier version of the same UID.
"""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from activities.models import Activity, ActivityKind

FEED_PAST_DAYS = 90
FEED_LIMIT = 2000
DURATION = {ActivityKind.MEETING: timedelta(hours=1)}
DEFAULT_DURATION = timedelta(minutes=30)


def activity_uid(activity: Activity) -> str:
    return f"activity-{activity.pk}@stageflow"


def _calendar(method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Stageflow//Stageflow CRM//EN")
    calendar.add("version", "2.0")
    if method:
        calendar.add("method", method)
    return calendar


def _event(activity: Activity, *, base_url: str = "", sequence: int = 0) -> Event:
    event = Event()
    event.add("uid", activity_uid(activity))
    event.add("dtstamp", timezone.now())
    event.add("dtstart", activity.due_at)
    event.add("dtend", activity.due_at + DURATION.get(activity.kind, DEFAULT_DURATION))
    event.add("summary", activity.title)
    if activity.note:
        event.add("description", activity.note)
    if base_url:
        event.add("url", base_url + activity.get_absolute_url())
    event.add("sequence", sequence)
    if activity.cancelled:
        event.add("status", "CANCELLED")
    elif activity.done_at:
        event.add("status", "CONFIRMED")
    return event


def feed(user, *, base_url: str) -> bytes:
    """The user's own activities from FEED_PAST_DAYS ago on (the newest FEED_LIMIT)."""
    since = timezone.now() - timedelta(days=FEED_PAST_DAYS)
    calendar = _calendar()
    calendar.add("x-wr-calname", f"Stageflow — {user.get_full_name() or user.get_username()}")
    activities = (
        Activity.objects.filter(owner=user, due_at__gte=since)
        .select_related("deal", "organization", "person").order_by("due_at", "pk")[:FEED_LIMIT]
    )
    for activity in activities:
        calendar.add_component(_event(activity, base_url=base_url))
    return calendar.to_ical()


def invitation(activity: Activity, *, organizer_name: str, organizer_email: str, attendees: list[tuple[str, str]],
               sequence: int, cancel: bool = False) -> bytes:
    calendar = _calendar("CANCEL" if cancel else "REQUEST")
    event = _event(activity, sequence=sequence)
    organizer = vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = vText(organizer_name)
    event.add("organizer", organizer)
    for name, address in attendees:
        attendee = vCalAddress(f"mailto:{address}")
        attendee.params["cn"] = vText(name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["partstat"] = vText("NEEDS-ACTION")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=0)
    if cancel:
        event["status"] = "CANCELLED"
    calendar.add_component(event)
    return calendar.to_ical()


def feed_base_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


