from django import template

from .. import formatting

register = template.Library()


@register.simple_tag
def money(amount, currency="", places=2):
    """`{% money deal.amount deal.currency %}` → "€1,234.56" / "1.234,56 €"; `{% money x c 0 %}`
    for whole units."""
    return formatting.money(amount, currency, int(places))


@register.filter(name="amount")
def amount_filter(value, places=2):
    """Just the number, in the active language: `{{ total|amount:0 }}`."""
    if value is None or value == "":
        return "—"
    return formatting.number(value, int(places))
