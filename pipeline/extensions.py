"""Extension points for apps that build on the pipeline.

`pipeline` never imports the apps that depend on it (activities, forecasting, …). When such an
app wants to show something on a board card or on the deal page, it registers here from its
AppConfig.ready():

- `register_card_data_loader(key, func)`: `func(cards)` sets on the board's cards (a list of
  Deals: its columns, or a column's next page) the values that app's card template shows, with
  one query for all of them (over the app's tables, for the cards' ids), so that the board's
  query count does not grow with the number of cards.
- `register_card_annotation(name, factory)`: the same values for a single card (a move's answer,
  a new deal), as annotations of that card's own query (`factory()` returns an expression, e.g. a
  Subquery with `OuterRef("pk")` as the deal): for one deal cheaper than a query of its own.
  A card shows the same values either way (the app's tests compare both).
- `register_card_template(name)`: a template rendered at the bottom of every card, with `deal`
  in its context (the card partial of templates/pipeline/board.html includes it).
- `register_timeline_source(func)`: `func(deal=…, user=…)` returns `TimelineEntry` items that
  the deal page merges into its history.
- `register_organization_panel(func)`: the same for the organisation page (`func(request=…,
  organization=…, can_change=…)`), and `register_person_panel(func)` for the person page
  (`func(request=…, person=…, can_change=…)`). An organisation panel's `place` is "main" (beside
  the deals) or "details" (under the organisation's details: the fit to the ideal customer profile).
- `register_organization_timeline_source(func)` and `register_person_timeline_source(func)`:
  `func(organization=…|person=…, user=…, limit=…)` returns at most `limit` `TimelineEntry` items,
  the newest first, that the organisation or person page merges into its one timeline (it shows
  the newest `limit` of all sources, so no source needs to return more).
- `register_deal_panel(func)`: `func(request=…, deal=…, can_change=…)` returns rendered HTML (or
  "") for a panel on the deal page.
- `register_lead_scorer(func, fields=…)`: `func(leads)` sets `fit_score` and `fit_explanation` on
  each of the (saved or unsaved) leads, in bulk. `pipeline.leads` calls it whenever it writes a
  lead whose `fields` (the ones the score depends on) are new or changed: the qualification app
  scores against the ideal customer profile this way, and there is no other scoring path.
- `register_merge_mover(key, func)`: `func(kind=…, source=…, target=…, actor=…)` moves the
  app's rows that point at `source` (an Organization when `kind` is "organization", a Person when
  it is "person") to `target`, inside the merge's transaction, and returns {model label: count}
  of what it moved (pipeline.merging). The merge refuses to delete a record that any row still
  points at, so an app that keeps rows about organisations or people (activities, notes, e-mail)
  registers a mover, or merges fail with a message naming its rows.
- `register_person_eraser(key, func)`: `func(person=…)` replaces the personal data in the app's
  rows about that person (those that point at them), inside the erasure's transaction, and
  returns {model label: count} (pipeline.privacy).
- `register_person_exporter(key, func)`: `func(person=…)` returns {section name: list of
  JSON-ready dicts}: everything the app holds about the person, for their data export.

Registrations are keyed, so registering twice (tests, autoreload) is harmless.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

_card_data_loaders: dict[str, Callable] = {}
_card_annotations: dict[str, Callable] = {}
_card_templates: list[str] = []
_timeline_sources: dict[str, Callable] = {}
_deal_panels: dict[str, Callable] = {}
_organization_panels: dict[str, tuple[Callable, str]] = {}
_organization_scorers: dict[str, tuple[Callable, frozenset[str]]] = {}
_merge_movers: dict[str, Callable] = {}
_person_erasers: dict[str, Callable] = {}
_person_exporters: dict[str, Callable] = {}


_person_panels: dict[str, Callable] = {}
_organization_timeline_sources: dict[str, Callable] = {}
_person_timeline_sources: dict[str, Callable] = {}


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


def register_card_data_loader(key: str, func: Callable) -> None:
    _card_data_loaders[key] = func


def card_data_loaders() -> list[Callable]:
    return list(_card_data_loaders.values())


def register_card_annotation(name: str, factory: Callable) -> None:
    _card_annotations[name] = factory


def card_annotations() -> dict:
    return {name: factory() for name, factory in _card_annotations.items()}


def card_annotation_names() -> list[str]:
    return list(_card_annotations)


def register_card_template(name: str) -> None:
    if name not in _card_templates:
        _card_templates.append(name)


def card_templates() -> list[str]:
    return list(_card_templates)


def register_timeline_source(key: str, func: Callable) -> None:
    _timeline_sources[key] = func


def timeline_sources() -> list[Callable]:
    return list(_timeline_sources.values())


def register_deal_panel(key: str, func: Callable) -> None:
    _deal_panels[key] = func


def deal_panels() -> list[Callable]:
    return list(_deal_panels.values())


def register_organization_panel(key: str, func: Callable, *, place: str = "main") -> None:
    """`place`: "main" (beside the deals and the timeline) or "details" (under the organisation's details)."""
    _organization_panels[key] = (func, place)


def organization_panels(place: str = "main") -> list[Callable]:
    return [func for func, where in _organization_panels.values() if where == place]


def register_organization_scorer(key: str, func: Callable, *, fields) -> None:
    _organization_scorers[key] = (func, frozenset(fields))


def organization_scorers() -> list[tuple[Callable, frozenset[str]]]:
    return list(_organization_scorers.values())


def register_merge_mover(key: str, func: Callable) -> None:
    _merge_movers[key] = func


def merge_movers() -> list[Callable]:
    return list(_merge_movers.values())


def register_person_eraser(key: str, func: Callable) -> None:
    _person_erasers[key] = func


def person_erasers() -> list[Callable]:
    return list(_person_erasers.values())


def register_person_exporter(key: str, func: Callable) -> None:
    _person_exporters[key] = func


def person_exporters() -> list[Callable]:
    return list(_person_exporters.values())


def register_person_panel(key: str, func: Callable) -> None:
    _person_panels[key] = func


def person_panels() -> list[Callable]:
    return list(_person_panels.values())


def register_organization_timeline_source(key: str, func: Callable) -> None:
    _organization_timeline_sources[key] = func


def organization_timeline_sources() -> list[Callable]:
    return list(_organization_timeline_sources.values())


def register_person_timeline_source(key: str, func: Callable) -> None:
    _person_timeline_sources[key] = func


def person_timeline_sources() -> list[Callable]:
    return list(_person_timeline_sources.values())
