"""Board cards show up to three deal fields an admin chose (pipeline.custom_fields, "shown on
cards"), through the board's extension points (pipeline.extensions): one query for all the cards
of a response, none when no field is on the cards, and the same values for a single card (a move's
answer) from an annotation of that card's own query."""
from django.db.models import F

from pipeline import custom_fields
from pipeline.models import Deal, FieldType


def card_fields(deal, custom: dict, definitions, users: dict) -> list:
    return [
        custom_fields.Shown(d.key, str(d), custom_fields.value_text(d, custom.get(d.key), users=users), d.field_type,
                            custom.get(d.key))
        for d in definitions
        if custom.get(d.key) not in (None, "", [])
    ]


def _users(definitions, customs) -> dict:
    user_keys = [d.key for d in definitions if d.field_type == FieldType.USER]
    if not user_keys:
        return {}
    return custom_fields._users([c.get(k) for c in customs for k in user_keys])


def load_card_data(cards) -> None:
    definitions = custom_fields.card_definitions()
    if not definitions:
        return
    values = dict(Deal.objects.filter(pk__in=[card.pk for card in cards]).values_list("pk", "custom"))
    users = _users(definitions, values.values())
    for card in cards:
        card.card_fields = card_fields(card, values.get(card.pk) or {}, definitions, users)


def register() -> None:
    from pipeline import extensions

    extensions.register_card_data_loader("custom_fields", load_card_data)
    extensions.register_card_annotation("card_custom", lambda: F("custom"))
    extensions.register_card_template("lists/_card_fields.html")
