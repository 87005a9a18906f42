"""What a board card shows, prepared once per response rather than once per card.

The board renders hundreds of cards. In a Django template every translated string, date filter,
custom tag and property call on a card costs the same again for the next card, so the card
partial only prints values that were prepared here: labels are translated once per response,
dates and day counts are formatted once per distinct value, owners once per person. Other apps
add their own card values through pipeline.extensions.register_card_presenter.

Nothing here queries the database: everything comes from the card query (selectors.card_queryset)
and the stage objects the view already holds.
"""
from collections.abc import Iterable
from functools import lru_cache

from django.urls import get_script_prefix, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _, ngettext

from localization import formatting

from . import extensions
from .models import Deal, DealStatus


@lru_cache(maxsize=16)
def _deals_prefix(script_prefix: str) -> str:
    # "/pipeline/deals/0/" without its "0/"; the script prefix is part of the key because
    # reverse() includes it.
    return reverse("pipeline:deal_detail", args=[0])[:-2]


def deals_prefix() -> str:
    """The deal pages' URL without the id: a card's links are this + id + "/" (+ action)."""
    return _deals_prefix(get_script_prefix())


def labels() -> dict[str, str]:
    """The card's fixed texts in the active language, for the whole response."""
    return {
        "customer": _("Customer"),
        "no_amount": _("No amount"),
        "expected_close": _("Expected close"),
        "rotting": _("Rotting"),
        "won": _("Won"),
        "next_step": _("Next step:"),
        "move_to": _("Move to…"),
    }


class _Memo(dict):
    """A per-response cache: `memo(key, make)` computes `make()` once per key."""

    def __call__(self, key, make):
        try:
            return self[key]
        except KeyError:
            value = self[key] = make()
            return value


def present(cards: Iterable[Deal]) -> list[Deal]:
    """Set the `card_*` display values on each card (and those other apps add). Each card's
    `stage` must be loaded (the board sets the column's stage object on its cards)."""
    cards = list(cards)
    if not cards:
        return cards
    now = timezone.now()
    today = timezone.localdate(now)
    memo = _Memo()
    for deal in cards:
        owner = deal.owner
        deal.card_owner, deal.card_owner_label, deal.card_initials = memo(
            ("owner", deal.owner_id),
            lambda: (str(owner), _("Owner: %(owner)s") % {"owner": owner}, owner.initials),
        )
        deal.card_amount = (
            memo(("amount", deal.amount, deal.currency), lambda: formatting.money(deal.amount, deal.currency, 0))
            if deal.amount is not None
            else None
        )
        close = deal.expected_close
        deal.card_close = memo(("date", close), lambda: formats.date_format(close, "SHORT_DATE_FORMAT")) if close else ""
        days = max(0, (now - deal.stage_entered_at).days)
        deal.card_age = memo(("days", days), lambda: _days_in_stage(days))
        rotting_days = deal.stage.rotting_days
        snoozed = deal.rotting_snoozed_until is not None and today < deal.rotting_snoozed_until
        deal.card_rotting = (
            deal.status == DealStatus.OPEN and rotting_days is not None and days > rotting_days and not snoozed
        )
        deal.card_won = deal.status == DealStatus.WON
    for presenter in extensions.card_presenters():
        presenter(cards, now=now, memo=memo)
    return cards


def _days_in_stage(days: int) -> str:
    if not days:
        return _("In stage since today")
    return ngettext("%(days)s day in stage", "%(days)s days in stage", days) % {"days": days}
