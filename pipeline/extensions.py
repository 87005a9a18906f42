"""Extension points for apps that build on the pipeline.

`pipeline` never imports the apps that depend on it (activities, forecasting, …). When such an
app wants to show something on a board card or on the deal page, it registers here from its
AppConfig.ready():

- `register_card_annotation(name, factory)`: `factory()` returns a query expression (usually a
  Subquery over the app's own model with `OuterRef("pk")` as the deal). The board's card query
  annotates every card with it, so the extra data arrives in the same single query and the
  board's query count does not grow with the number of cards. The board compiles that query once
  per database connection (pipeline.selectors), the deal page builds its card queryset once per
  process and a move's deal read is compiled to SQL once per user (pipeline.prepared): the
  expression must not depend on the request, the user or the time (compare with the current time
  in the app's card presenter instead, or use the database's Now()).
- `register_card_presenter(key, func)`: `func(cards, now=…, memo=…)` sets the display values that
  app's card part prints, once per response for all its cards (see pipeline.cards). On the board
  a card is a row (selectors.BoardCard: the card's columns and annotations as attributes, not a
  Deal); a single card elsewhere (a move's response) is a Deal with the same attributes.
- `register_card_part(key, make)`: markup at the bottom of every card. `make()` is called once
  per response (translate fixed texts there) and returns `part(deal) -> str`, the card's markup
  with every value escaped (django.utils.html.conditional_escape), as pipeline.cards writes the
  rest of the card: a board of hundreds of cards stays fast.
- `register_card_template(name)`: the same as a template rendered with `deal` for every card;
  simpler to write, but a template per card costs several times a part.
- `register_timeline_source(func)`: `func(deal=…, user=…)` returns `TimelineEntry` items that
  the deal page merges into its history.
- `register_lead_panel(func)`: the same for the lead page (`func(request=…, lead=…, can_change=…)`).
- `register_deal_panel(func)`: `func(request=…, deal=…, can_change=…)` returns rendered HTML (or
  "") for a panel on the deal page.
- `register_lead_scorer(func, fields=…)`: `func(leads)` sets `fit_score` and `fit_explanation` on
  each of the (saved or unsaved) leads, in bulk. `pipeline.leads` calls it whenever it writes a
  lead whose `fields` (the ones the score depends on) are new or changed: the qualification app
  scores against the ideal customer profile this way, and there is no other scoring path.

Registrations are keyed, so registering twice (tests, autoreload) is harmless.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

_card_annotations: dict[str, Callable] = {}
_card_templates: list[str] = []
_card_presenters: dict[str, Callable] = {}
_card_parts: dict[str, Callable] = {}
_timeline_sources: dict[str, Callable] = {}
_deal_panels: dict[str, Callable] = {}
_lead_panels: dict[str, Callable] = {}
_lead_scorers: dict[str, tuple[Callable, frozenset[str]]] = {}


@dataclass
class TimelineEntry:
    """One row of the deal page's timeline. `template` renders it with `entry` in the context."""

    at: datetime
    kind: str
    row: object
    template: str = ""
    label: str = ""
    old: str = ""
    new: str = ""
    order: int = 5  # ties at the same instant: lower first (oldest-first order before reversing)
    extra: dict = field(default_factory=dict)


_card_annotations_version = 0


def register_card_annotation(name: str, factory: Callable) -> None:
    global _card_annotations_version
    _card_annotations[name] = factory
    _card_annotations_version += 1


def card_annotations_version() -> int:
    """Changes whenever a card annotation is registered: what the board's compiled card query is
    keyed by (pipeline.selectors)."""
    return _card_annotations_version


def card_annotations() -> dict:
    return {name: factory() for name, factory in _card_annotations.items()}


def card_annotation_names() -> list[str]:
    return list(_card_annotations)


def register_card_template(name: str) -> None:
    if name not in _card_templates:
        _card_templates.append(name)


def card_templates() -> list[str]:
    return list(_card_templates)


def register_card_presenter(key: str, func: Callable) -> None:
    _card_presenters[key] = func


def card_presenters() -> list[Callable]:
    return list(_card_presenters.values())


def register_card_part(key: str, make: Callable) -> None:
    _card_parts[key] = make


def card_parts() -> list[Callable]:
    return list(_card_parts.values())


def register_timeline_source(key: str, func: Callable) -> None:
    _timeline_sources[key] = func


def timeline_sources() -> list[Callable]:
    return list(_timeline_sources.values())


def register_deal_panel(key: str, func: Callable) -> None:
    _deal_panels[key] = func


def deal_panels() -> list[Callable]:
    return list(_deal_panels.values())


def register_lead_panel(key: str, func: Callable) -> None:
    _lead_panels[key] = func


def lead_panels() -> list[Callable]:
    return list(_lead_panels.values())


def register_lead_scorer(key: str, func: Callable, *, fields) -> None:
    _lead_scorers[key] = (func, frozenset(fields))


def lead_scorers() -> list[tuple[Callable, frozenset[str]]]:
    return list(_lead_scorers.values())
