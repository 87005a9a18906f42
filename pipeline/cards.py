"""A board card: its values prepared once per response, its markup written here in Python.

The board renders hundreds of cards. Through the Django template engine each card cost about as
much as all its values together (every tag, filter and variable lookup is a node to walk), so,
like the rows of Django admin's change list, a card is assembled here from escaped pieces:
`render(cards)` sets `card_html` on each card and the templates only print it (board.html's
`card` partial and its columns).

`present(cards)` prepares the values first: labels are translated once per response, dates and
day counts are formatted once per distinct value, owners once per person. Other apps add their own
values through pipeline.extensions.register_card_presenter and their own markup at the bottom of
the card through register_card_part (or, more slowly, register_card_template).

Every value a user entered (titles, names, next steps) goes through `conditional_escape`, the
same escaping as `{{ … }}` in a template. Nothing here queries the database: everything comes from
the card query (selectors.card_queryset) and the stage objects the view already holds.
"""
from collections.abc import Iterable
from functools import lru_cache
from html import escape as html_escape

from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import dateformat, formats, timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _, ngettext

from localization import formatting

from . import extensions
from .models import Deal, DealStatus


def escape(value) -> SafeString:
    """django.utils.html.conditional_escape, without its lazy-string wrapper for the plain strings
    that make up most of a card (the board escapes a few thousand values per response): the same
    result (Django's escape is html.escape), SafeString and all."""
    if type(value) is str:
        return SafeString(html_escape(value))
    return conditional_escape(value)


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


# Format characters short_date() writes itself; any other character in the format (or an escape)
# sends every date through Django's date_format.
_FAST_DATE_CHARS = set("djmnYyM")


def short_date():
    """`formats.date_format(value, "SHORT_DATE_FORMAT")` for the active language as a function,
    for a page that formats many dates (the board): the format is read once and the month names
    are looked up once per month, instead of Django's DateFormat object per date. Gives exactly
    what date_format gives; formats with other characters go through date_format itself."""
    format_string = formats.get_format("SHORT_DATE_FORMAT")
    if "\\" in format_string or any(c.isalpha() and c not in _FAST_DATE_CHARS for c in format_string):
        return lambda value: formats.date_format(value, "SHORT_DATE_FORMAT")
    months = {}

    def month(value) -> str:
        try:
            return months[value.month]
        except KeyError:
            name = months[value.month] = dateformat.format(value, "M")
            return name

    writers = {
        "d": lambda v: f"{v.day:02d}",
        "j": lambda v: str(v.day),
        "m": lambda v: f"{v.month:02d}",
        "n": lambda v: str(v.month),
        "Y": lambda v: f"{v.year:04d}",
        "y": lambda v: f"{v.year % 100:02d}",
        "M": month,
    }
    pieces = [writers.get(c, c) for c in format_string]
    return lambda value: "".join(piece if isinstance(piece, str) else piece(value) for piece in pieces)


def present(cards: Iterable[Deal]) -> list[Deal]:
    """Set the `card_*` display values on each card (and those other apps add). Each card's
    `stage` must be loaded (the board sets the column's stage object on its cards)."""
    cards = list(cards)
    if not cards:
        return cards
    now = timezone.now()
    today = timezone.localdate(now)
    memo = _Memo()
    money = formatting.money_formatter(0)
    short = short_date()
    status_open, status_won = DealStatus.OPEN, DealStatus.WON
    # Values many cards share, each made once per response: owners, amounts, dates, days in stage.
    owners, amounts, closes, ages = {}, {}, {}, {}
    for deal in cards:
        owner_id = deal.owner_id
        shown = owners.get(owner_id)
        if shown is None:
            owner = deal.owner
            shown = owners[owner_id] = (str(owner), _("Owner: %(owner)s") % {"owner": owner}, owner.initials)
        deal.card_owner, deal.card_owner_label, deal.card_initials = shown
        amount = deal.amount
        if amount is None:
            deal.card_amount = None
        else:
            key = (amount, deal.currency)
            shown = amounts.get(key)
            if shown is None:
                shown = amounts[key] = money(amount, deal.currency)
            deal.card_amount = shown
        close = deal.expected_close
        if close:
            shown = closes.get(close)
            if shown is None:
                shown = closes[close] = short(close)
            deal.card_close = shown
        else:
            deal.card_close = ""
        days = max(0, (now - deal.stage_entered_at).days)
        shown = ages.get(days)
        if shown is None:
            shown = ages[days] = _days_in_stage(days)
        deal.card_age = shown
        status = deal.status
        rotting_days = deal.stage.rotting_days
        deal.card_rotting = (
            status == status_open
            and rotting_days is not None
            and days > rotting_days
            and not (deal.rotting_snoozed_until is not None and today < deal.rotting_snoozed_until)
        )
        deal.card_won = status == status_won
    for presenter in extensions.card_presenters():
        presenter(cards, now=now, memo=memo)
    return cards


def _days_in_stage(days: int) -> str:
    if not days:
        return _("In stage since today")
    return ngettext("%(days)s day in stage", "%(days)s days in stage", days) % {"days": days}


def render(cards: Iterable[Deal]) -> list[Deal]:
    """Present the cards and set each one's markup as `card_html` (see the module's docstring)."""
    cards = present(cards)
    if not cards:
        return cards
    text = {key: escape(value) for key, value in labels().items()}
    prefix = escape(deals_prefix())
    parts = [make() for make in extensions.card_parts()]
    templates = [get_template(name) for name in extensions.card_templates()]
    avatars = {}  # the owner's avatar markup, once per owner and response
    for deal in cards:
        bottom = "".join(part(deal) for part in parts)
        if templates:
            bottom += "".join(template.render({"deal": deal}) for template in templates)
        key = (deal.card_owner, deal.card_initials, deal.card_owner_label)
        avatar = avatars.get(key)
        if avatar is None:
            avatar = avatars[key] = (
                f'<span class="sf-avatar" title="{escape(deal.card_owner)}"><span aria-hidden="true">{escape(deal.card_initials)}</span>'
                f'<span class="visually-hidden">{escape(deal.card_owner_label)}</span></span>'
            )
        deal.card_html = _card(deal, text, prefix, bottom, avatar)
    return cards


def _card(deal: Deal, text: dict[str, str], prefix: str, bottom: str, avatar: str) -> SafeString:
    """One card's markup. `text` and `prefix` are escaped already, `bottom` (extension parts) and
    `avatar` (the owner's) are markup; everything else is escaped here. The "Move to…" menu is
    the column's (render_column_parts), copied into the card by board.js when it opens."""
    pk = deal.pk
    state = (" is-rotting" if deal.card_rotting else "") + (" is-won" if deal.card_won else "")
    customer = f' <span class="sf-customer-badge">{text["customer"]}</span>' if deal.lead_is_customer else ""
    if deal.card_amount:
        amount = f'<span class="sf-amount">{escape(deal.card_amount)}</span>'
    else:
        amount = f'<span class="sf-amount sf-muted">{text["no_amount"]}</span>'
    close = (
        f'<span class="sf-close"><span class="visually-hidden">{text["expected_close"]}</span>{escape(deal.card_close)}</span>'
        if deal.card_close
        else ""
    )
    rotting = f'<span class="sf-rotting">{text["rotting"]}</span>' if deal.card_rotting else ""
    won = f'<span class="sf-won-badge">{text["won"]}</span>' if deal.card_won else ""
    next_step = (
        f'<div class="sf-next"><span class="visually-hidden">{text["next_step"]}</span>{escape(deal.next_step)}</div>'
        if deal.next_step
        else ""
    )
    return SafeString(  # every value above is escaped (SafeString: mark_safe without its lazy-string check)
        f'\n<article class="sf-card{state}" id="deal-{pk}" role="listitem" aria-labelledby="deal-{pk}-title"'
        f' data-version="{deal.version}">'
        f'<div class="sf-card-top">'
        f'<a class="sf-card-title" id="deal-{pk}-title" href="{prefix}{pk}/">{escape(deal.title)}</a>'
        f"{avatar}</div>\n"
        f'<div class="sf-card-lead">{escape(deal.lead.name)}{customer}</div>\n'
        f'<div class="sf-card-meta">{amount}{close}</div>\n'
        f'<div class="sf-card-meta"><span class="sf-age">{escape(deal.card_age)}</span>{rotting}{won}</div>\n'
        f"{next_step}\n"
        f"{bottom}\n"
        f'<details class="sf-move"><summary>{text["move_to"]}</summary></details></article>\n'
    )


def render_headers(headers: Iterable, *, oob: bool = False) -> None:
    """Set `head_html` on each column header (a board Column or a views.Header: `stage`, `count`,
    `totals`): its title, deal count, probability and totals per currency. Written here for the
    same reason as the cards; `oob` makes it an HTMX out-of-band swap (after a move)."""
    won = escape(_("Won"))
    by_currency = escape(_("Totals by currency"))
    weighted_title = escape(_("Weighted by probability"))
    weighted = escape(_("weighted"))
    no_amount = escape(_("No amount yet"))
    no_amount = f'\n    <li class="sf-totals-empty">{no_amount}</li>\n    '
    swap = ' hx-swap-oob="outerHTML"' if oob else ""
    money = formatting.money_formatter(0)
    for header in headers:
        stage, count = header.stage, header.count
        pk = stage.pk
        shown_count = escape(formats.localize(count))
        deals = ngettext("%(counter)s deal", "%(counter)s deals", count) % {"counter": shown_count}
        if stage.is_won:
            sub = won
        else:
            sub = _("%(p)s %% probability") % {"p": escape(formats.localize(stage.probability))}
        totals = "".join(
            f'\n    <li data-currency="{escape(t.currency)}">\n'
            f'      <span class="sf-total" data-total="{escape(formats.localize(t.total))}">'
            f"{escape(money(t.total, t.currency))}</span>\n"
            f'      <span class="sf-weighted" data-weighted="{escape(formats.localize(t.weighted))}" title="{weighted_title}">'
            f"{weighted} {escape(money(t.weighted, t.currency))}</span>\n"
            f"    </li>\n    "
            for t in header.totals
        ) or no_amount
        header.head_html = mark_safe(  # every value is escaped
            f'\n<header class="sf-col-head" id="col-head-{pk}"{swap}>\n'
            f'  <div class="sf-col-title-row">\n'
            f'    <h2 class="sf-col-title" id="col-title-{pk}">{escape(stage.name)}</h2>\n'
            f'    <span class="sf-count" aria-label="{deals}">{shown_count}</span>\n'
            f"  </div>\n"
            f'  <div class="sf-col-sub">\n'
            f"    {sub}\n"
            f"  </div>\n"
            f'  <ul class="sf-totals" aria-label="{by_currency}">\n    {totals}\n  </ul>\n'
            f"</header>\n"
        )


def quick_add_html(*, stage, form, board_url: str, csrf_input: str, keep_open: bool = False) -> SafeString:
    """A column's "Add deal" form (closed unless it shows errors or `keep_open`). The board has
    one per open column, so it is written here too; `csrf_input` is the page's hidden CSRF input
    (markup), the rest is escaped here."""
    return quick_add_writer(form=form, board_url=board_url, csrf_input=csrf_input)(stage.pk, keep_open=keep_open)


@lru_cache(maxsize=256)
def _quick_add_url(script_prefix: str, urlconf, pk: int) -> str:
    # The prefix and URLconf are part of the key because reverse() depends on them.
    return escape(reverse("pipeline:deal_quick_add", args=[pk]))


def quick_add_writer(*, form, board_url: str, csrf_input: str):
    """quick_add_html for several columns that show the same form (the board's): the form's
    labels, values and errors are read once; returns `write(stage_pk, keep_open=False)`."""
    errors = "".join(f'<div class="sf-form-error" role="alert">{escape(error)}</div>' for error in form.non_field_errors())

    def read(name: str) -> tuple[str, str, str]:
        """The field's label, value and first error ("" without one), escaped."""
        bound = form[name]
        value = bound.value()
        label, shown = escape(bound.label), "" if value is None else escape(formats.localize(value))
        return label, shown, escape(bound.errors[0]) if bound.errors else ""

    fields = {name: read(name) for name in ("title", "company", "amount")}
    placeholders = {key: escape(text) for key, text in (
        ("title", _("Deal title")), ("company", _("Company")), ("amount", _("Amount")),
    )}
    add_deal, add = escape(_("Add deal")), escape(_("Add"))
    board_url = escape(board_url)
    has_errors = bool(form.errors)
    script_prefix, urlconf = get_script_prefix(), get_urlconf()

    def field(pk: int, name: str) -> tuple[str, str, str, str, str]:
        """The field's label, value and state: the input's extra class and aria-describedby
        attribute, and its error line's id and text ("" without an error)."""
        label, shown, error = fields[name]
        if not error:
            return label, shown, "", "", ""
        error_id = f"qa-{pk}-{name}-err"
        return label, shown, " is-invalid", f' aria-describedby="{error_id}"', f'id="{error_id}">{error}'

    def write(pk: int, *, keep_open: bool = False) -> SafeString:
        url = _quick_add_url(script_prefix, urlconf, pk)
        title_label, title_value, title_state, title_described, title_error = field(pk, "title")
        company_label, company_value, company_state, company_described, company_error = field(pk, "company")
        amount_label, amount_value, amount_state, amount_described, amount_error = field(pk, "amount")
        return mark_safe(  # every value is escaped
            f'\n<details class="sf-quick-add" id="quick-add-{pk}"{" open" if has_errors or keep_open else ""}>\n'
            f"  <summary>{add_deal}</summary>\n"
            f'  <form method="post" action="{url}" hx-post="{url}"\n'
            f'        hx-target="#quick-add-{pk}" hx-swap="outerHTML" hx-include="#sf-board-state" novalidate>\n'
            f"    {csrf_input}\n"
            f'    <input type="hidden" name="next" value="{board_url}">\n'
            f"    {errors}\n"
            f'    <label class="visually-hidden" for="qa-{pk}-title">{title_label}</label>\n'
            f'    <input class="form-control form-control-sm{title_state}" id="qa-{pk}-title" name="title"\n'
            f'           placeholder="{placeholders["title"]}" maxlength="200" value="{title_value}" required{title_described}>\n'
            + (f'    <div class="invalid-feedback" {title_error}</div>\n' if title_error else "")
            + f'    <label class="visually-hidden" for="qa-{pk}-company">{company_label}</label>\n'
            f'    <input class="form-control form-control-sm{company_state}" id="qa-{pk}-company" name="company"\n'
            f'           placeholder="{placeholders["company"]}" maxlength="200" value="{company_value}" required{company_described}>\n'
            + (f'    <div class="invalid-feedback" {company_error}</div>\n' if company_error else "")
            + '    <div class="sf-quick-row">\n'
            f'      <label class="visually-hidden" for="qa-{pk}-amount">{amount_label}</label>\n'
            f'      <input class="form-control form-control-sm{amount_state}" id="qa-{pk}-amount" name="amount"\n'
            f'             type="number" min="0" step="0.01" placeholder="{placeholders["amount"]}" value="{amount_value}"{amount_described}>\n'
            f'      <button type="submit" class="btn btn-sm btn-primary">{add}</button>\n'
            "    </div>\n"
            + (f'    <div class="invalid-feedback d-block" {amount_error}</div>\n' if amount_error else "")
            + "  </form>\n"
            "</details>\n"
        )

    return write


def render_column_parts(columns: Iterable, *, board_url: str, state_query: str, csrf_input: str) -> None:
    """Set `menu_html` (the column's "Move to…" menu, which board.js copies into a card's menu)
    and `more_html` (its "Load more" link) on each board column (`stage`, `targets`, `has_more`,
    `next_offset`): the column's menu, and the markup of board.html's load_more partial, written
    here like the cards; `csrf_input` is the page's hidden CSRF input (markup), the rest is escaped."""
    board_url = escape(board_url)
    state_query = escape(state_query)
    mark_lost = escape(_("Mark lost…"))
    load_more = escape(_("Load more"))
    no_moves = f'<p class="sf-muted small m-0 px-2">{escape(_("No moves allowed from here."))}</p>\n'
    for column in columns:
        options = "".join(
            f'<button type="submit" name="stage" value="{target.pk}" class="sf-move-option">'
            f'<span class="sf-dot" style="--sf-stage-colour: {escape(target.colour)}" aria-hidden="true"></span>'
            f"{escape(target.name)}</button>\n"
            for target in column.targets
        ) or no_moves
        column.menu_html = mark_safe(  # every value is escaped
            '\n<template class="sf-move-template"><div class="sf-move-menu">\n'
            '  <form method="post" hx-swap="none" hx-include="#sf-board-state">\n'
            f"    {csrf_input}\n"
            '    <input type="hidden" name="version" value="">\n'
            f'    <input type="hidden" name="next" value="{board_url}">\n'
            f"    \n{options}\n\n"
            "  </form>\n"
            f'  <a class="sf-move-option sf-move-lost" href="#lose">{mark_lost}</a>\n'
            "</div></template>\n"
        )
        more = ""
        if column.has_more:
            link = f"?{state_query}&amp;stage={column.stage.pk}&amp;offset={column.next_offset}"
            more = (
                f'\n<a class="btn btn-sm btn-light w-100 sf-more" id="more-{column.stage.pk}"\n'
                f'   href="{link}"\n'
                f'   hx-get="{link}" hx-swap="outerHTML">{load_more}</a>\n'
            )
        column.more_html = mark_safe(f"\n{more}\n")  # escaped above


def render_columns(columns: Iterable, *, filtered: bool, quick_add_form, board_url: str, csrf_input: str) -> None:
    """Set `html` on each board column: its whole <section> — the header (`head_html`), the
    "Add deal" form of an open column, its cards (`card_html`), the text an empty column shows,
    "Load more" (`more_html`) and the "Move to…" menu (`menu_html`). Call it after render,
    render_headers and render_column_parts. Written here for the same reason as the cards: the
    board's few columns cost more through the template engine than the rest of the page."""
    if filtered:
        empty_open = empty_won = escape(_("No deals here match the filters."))
    else:
        empty_won = escape(_("Won deals land here. Drag a card in when the contract is signed."))
        empty_open = escape(_("No deals in this stage. Drag a card here or add one above."))
    quick_add = quick_add_writer(form=quick_add_form, board_url=board_url, csrf_input=csrf_input)
    for column in columns:
        stage = column.stage
        pk, won = stage.pk, stage.is_won
        cards = "".join(card.card_html for card in column.cards)
        column.html = mark_safe(  # every value is escaped or markup written (and escaped) here
            f'\n  <section class="sf-column{" is-won" if won else ""}" style="--sf-stage-colour: {escape(stage.colour)}"\n'
            f'           aria-labelledby="col-title-{pk}" data-stage-id="{pk}">\n'
            f"    {column.head_html}\n"
            f'    {"" if won else quick_add(pk)}\n'
            f'    <div class="sf-cards" id="cards-{pk}" data-stage-id="{pk}" role="list"\n'
            f'         aria-labelledby="col-title-{pk}">\n'
            f"      {cards}\n"
            f"    </div>\n"
            f'    <p class="sf-empty-col">{empty_won if won else empty_open}</p>\n'
            f"    {column.more_html}\n"
            f"    {column.menu_html}\n"
            f"  </section>\n  "
        )
