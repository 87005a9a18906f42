from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def is_past(value) -> bool:
    return value is not None and value < timezone.now()


@register.filter
def due_label(value) -> str:
    """"today 14:00", "tomorrow 09:30", "yesterday 16:00", else the date (and time)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = timezone.localdate()
    time = date_format(local, "TIME_FORMAT")
    if local.date() == today:
        return _("today %(time)s") % {"time": time}
    if local.date() == today + timedelta(days=1):
        return _("tomorrow %(time)s") % {"time": time}
    if local.date() == today - timedelta(days=1):
        return _("yesterday %(time)s") % {"time": time}
    return date_format(local, "j M Y")


@register.filter
def render_note(body: str):
    from activities.formatting import render_note as render

    return render(body)


@register.filter
def percent_of(part, whole) -> int:
    try:
        return round(100 * int(part) / int(whole)) if int(whole) else 0
    except (TypeError, ValueError):
        return 0
