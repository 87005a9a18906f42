from datetime import date, datetime
from decimal import Decimal

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def cell(value):
    """A list cell as the reader's language writes it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal):
        return formats.number_format(value, 2, use_l10n=True, force_grouping=True)
    return str(value)


@register.simple_tag
def card_fields(deal):
    """The custom fields a board card shows: from the cards' loader, or (a single card) from its
    annotation."""
    if hasattr(deal, "card_fields"):
        return deal.card_fields
    custom = getattr(deal, "card_custom", None)
    if not custom:
        return []
    from pipeline import custom_fields

    from ..cards import _users, card_fields as fields_of

    definitions = custom_fields.card_definitions()
    return fields_of(deal, custom, definitions, _users(definitions, [custom]))
