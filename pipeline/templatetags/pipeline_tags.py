from datetime import timedelta

from django import template
from django.template.backends.utils import csrf_input
from django.utils.html import format_html
from django.utils.translation import ngettext

from pipeline.cards import deals_prefix, quick_add_html

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


@register.simple_tag
def deal_url(deal, action: str = "") -> str:
    """The deal page (or one of its actions: move, lose, reopen) without a full reverse() per
    call: the board renders hundreds of cards with several links each."""
    url = f"{deals_prefix()}{deal.pk}/"
    return f"{url}{action}/" if action else url


@register.simple_tag
def card_extension_templates() -> list[str]:
    """Templates other apps registered for the bottom of every card (pipeline.extensions)."""
    from pipeline import extensions

    return extensions.card_templates()


@register.simple_tag(takes_context=True)
def quick_add(context, stage, form, keep_open=False):
    """A column's "Add deal" form (pipeline.cards.quick_add_html) for this page."""
    request = context.get("request")
    token = context.get("csrf_token")
    if token is not None and str(token) != "NOTPROVIDED":
        # The page's token, as {% csrf_token %} writes it: one per page, not one per column.
        field = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
    else:
        field = csrf_input(request) if request is not None else ""
    return quick_add_html(
        stage=stage, form=form, board_url=context.get("board_url", ""), keep_open=bool(keep_open), csrf_input=field,
    )
