from django import template

from .. import formatting

register = template.Library()


@register.filter
def money(value, currency=""):
    return formatting.money(value, currency) if value is not None else "—"


@register.filter
def amount(value):
    return formatting.number(value) if value is not None else "—"


@register.filter
def qty(value):
    return formatting.quantity(value)


@register.filter
def pct(value):
    return formatting.percent(value)


@register.filter
def plain(value):
    """A Decimal for an input field: 12 rather than 12.000, 2.5 rather than 2.500."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.inclusion_tag("offers/_deal_offers.html", takes_context=True)
def deal_offers_section(context, deal):
    """The deal page's offers section: `{% load offers_tags %}{% deal_offers_section deal %}`.

    The deal page (pipeline) needs no import of offers; the permission checks run here, in Python.
    """
    from ..views import deal_offers_context

    return deal_offers_context(context["request"].user, deal) | {"request": context["request"], "csrf_token": context.get("csrf_token")}
