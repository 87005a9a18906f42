from datetime import timedelta

from django import template
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def duration_human(value: timedelta | None) -> str:
    """A time span in its largest sensible unit: "3 days", "5 hours", "12 minutes"."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    if days:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    hours, rest = divmod(rest, 3600)
    if hours:
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    minutes = rest // 60
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
