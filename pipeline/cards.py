"""What a board card shows that needs formatting (its amount, expected close date and address),
made once per distinct value for all the cards of a response: a board shows a few hundred cards,
many with the same amount or date, and formatting each one in the template cost more than the rest
of the card (bench/results: the board rows). Values only: the markup is the `card` partial of
templates/pipeline/board.html. Every view that renders cards calls present_cards() on them first."""
from django.urls import reverse
from django.utils import formats

from localization.formatting import money


def present_cards(cards) -> list:
    """Set `card_amount` (None without an amount), `card_close` ("" without a date) and `card_url`
    on each card; returns the cards."""
    cards = list(cards)
    amounts, dates = {}, {}
    deals_prefix = reverse("pipeline:deal_detail", args=[0])[: -len("0/")]
    for deal in cards:
        if deal.amount is None:
            deal.card_amount = None
        else:
            key = (deal.amount, deal.currency)
            if key not in amounts:
                amounts[key] = money(deal.amount, deal.currency, 0)
            deal.card_amount = amounts[key]
        close = deal.expected_close
        if close and close not in dates:
            dates[close] = formats.date_format(close, "SHORT_DATE_FORMAT")
        deal.card_close = dates[close] if close else ""
        deal.card_url = f"{deals_prefix}{deal.pk}/"
    return cards
