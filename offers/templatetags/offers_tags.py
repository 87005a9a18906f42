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
