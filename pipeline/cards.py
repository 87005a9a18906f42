"""What a board card shows that needs working out (its amount, dates, days in stage, rotting
warning, owner and fixed labels), made once per distinct value for all the cards of a response: a
board shows a few hundred cards, many with the same amount, date or owner, and working each one out
in the template cost more than the rest of the card (bench/results: the board rows). Values and
plain text only: the markup is the `card` partial of templates/pipeline/board.html. Every view that
renders cards calls present_cards() on them first."""
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from localization.formatting import money_formatter, short_date_formatter

from . import extensions
from .models import DealStatus


def card_text() -> dict[str, str]:
    """The card's fixed words in the active language, translated once per response."""
    return {
        "customer": _("Customer"),
        "no_amount": _("No amount"),
        "expected_close": _("Expected close"),
        "rotting": _("Rotting"),
        "won": _("Won"),
        "next_step": _("Next step:"),
        "move_to": _("Move to…"),
    }


def _days_in_stage(days: int) -> str:
    if not days:
        return _("In stage since today")
    return ngettext("%(days)s day in stage", "%(days)s days in stage", days) % {"days": days}


def present_cards(cards) -> list:
    """Set on each card: `card_amount` (None without an amount), `card_close` ("" without a date),
    `card_url`, `card_age` (days in stage, in words), `card_rotting`, `card_won`, `card_owner`
    (name and "Owner: …"), `card_text` (card_text(), shared) and `card_templates` (what other apps
    add at the bottom, pipeline.extensions). Each card's `stage` must be loaded. Returns the cards."""
    cards = list(cards)
    if not cards:
        return cards
    now = timezone.now()
    today = timezone.localdate(now)
    text, templates = card_text(), extensions.card_templates()
    money, short_date = money_formatter(0), short_date_formatter()
    amounts, dates, ages, owners = {}, {}, {}, {}
    deals_prefix = reverse("pipeline:deal_detail", args=[0])[: -len("0/")]
    for deal in cards:
        if deal.amount is None:
            deal.card_amount = None
        else:
            key = (deal.amount, deal.currency)
            if key not in amounts:
                amounts[key] = money(deal.amount, deal.currency)
            deal.card_amount = amounts[key]
        close = deal.expected_close
        if close and close not in dates:
            dates[close] = short_date(close)
        deal.card_close = dates[close] if close else ""
        deal.card_url = f"{deals_prefix}{deal.pk}/"
        days = max(0, (now - deal.stage_entered_at).days)
        if days not in ages:
            ages[days] = _days_in_stage(days)
        deal.card_age = ages[days]
        rotting_days = deal.stage.rotting_days
        snoozed = deal.rotting_snoozed_until is not None and today < deal.rotting_snoozed_until
        deal.card_rotting = (
            deal.status == DealStatus.OPEN and rotting_days is not None and days > rotting_days and not snoozed
        )
        deal.card_won = deal.status == DealStatus.WON
        if deal.owner_id not in owners:
            owner = deal.owner
            owners[deal.owner_id] = {
                "name": str(owner), "initials": owner.initials, "label": _("Owner: %(owner)s") % {"owner": owner},
            }
        deal.card_owner = owners[deal.owner_id]
        deal.card_text = text
        deal.card_templates = templates
    return cards
