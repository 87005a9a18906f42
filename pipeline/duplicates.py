"""Duplicate suggestions: organisations or people that are probably the same, among those the user
may see (pipeline.selectors visible_organizations / visible_persons).

The database finds them: the match keys (pipeline.matching) that more than one visible record
shares, grouped and counted in one query, a page at a time; then one query for the members of the
page's groups and one for the records. The number of queries does not grow with the suggestions.

A suggestion is a set of records and why (same domain, same name, …): keys that the same records
share are shown as one suggestion with several reasons. The oldest record is offered as the one to
keep; the merge page lets the user keep the other instead.

A person's phone number that is also their organisation's number (the switchboard that many
contacts list) says nothing about the person: it is no key of theirs (pipeline.matching).
"""
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, Min, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from . import selectors
from .models import Deal, DealContact, MatchKey, MatchKind, Organization, Person

PER_PAGE = 25
CANDIDATES = 20


@dataclass
class Reason:
    kind: str
    value: str

    @property
    def label(self) -> str:
        return str(MatchKind(self.kind).label)


@dataclass
class Suggestion:
    records: list = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)

    @property
    def keep(self):
        """The record suggested as the survivor: the oldest."""
        return self.records[0]

    @property
    def others(self) -> list:
        return self.records[1:]


def _shown_value(kind: str, value: str) -> str:
    # A person's name key is "<organisation id>:<name>": the name is what the user reads.
    return value.split(":", 1)[1] if kind == MatchKind.NAME and ":" in value else value


def _count(model, field: str):
    counted = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _organizations(user, ids) -> dict[int, Organization]:
    return selectors.visible_organizations(user).filter(pk__in=ids).select_related("owner", "main_contact").annotate(
        deal_count=_count(Deal, "organization"), people_count=_count(Person, "organization"),
    ).in_bulk()


def _persons(user, ids) -> dict[int, Person]:
    return selectors.visible_persons(user).filter(pk__in=ids).select_related("owner", "organization").annotate(
        deal_count=_count(DealContact, "person"),
    ).in_bulk()


def _keys(user, kind: str):
    """The match keys of the visible records of `kind` ("organization" or "person")."""
    field = "organization" if kind == "organization" else "person"
    visible = (selectors.visible_organizations if kind == "organization" else selectors.visible_persons)(user)
    keys = MatchKey.objects.filter(**{f"{field}__isnull": False})
    if visible.query.has_filters():  # admins and a shared address book see everything: no subquery
        keys = keys.filter(**{f"{field}__in": visible.values("pk")})
    return keys, f"{field}_id"


def _members(keys, pairs, record_field: str) -> list[tuple[str, str, int]]:
    """The (kind, value, record id) keys of these (kind, value) pairs: looked up through the index
    as kind IN (…) AND value IN (…) (an OR of pairs makes the database scan), the pairs picked here."""
    wanted = set(pairs)
    rows = keys.filter(kind__in={k for k, _v in wanted}, value__in={v for _k, v in wanted}).order_by()
    return [row for row in rows.values_list("kind", "value", record_field) if row[:2] in wanted]


def _suggestions(groups: list[tuple[str, str]], members: list[tuple[str, str, int]], records: dict) -> list[Suggestion]:
    by_group: dict[tuple[str, str], list[int]] = {}
    for kind, value, pk in members:
        if pk in records:
            by_group.setdefault((kind, value), []).append(pk)
    suggestions: dict[tuple[int, ...], Suggestion] = {}
    for kind, value in groups:
        ids = tuple(sorted(set(by_group.get((kind, value), []))))
        if len(ids) < 2:
            continue
        suggestion = suggestions.setdefault(ids, Suggestion(records=[records[pk] for pk in ids]))
        suggestion.reasons.append(Reason(kind, _shown_value(kind, value)))
    return list(suggestions.values())


@dataclass
class Page:
    """A page of suggestions: previous and next, without counting them all (which would cost the
    grouping a second time)."""

    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _page_number(page) -> int:
    try:
        return max(1, int(page))
    except (TypeError, ValueError):
        return 1


def duplicate_suggestions(user, *, kind: str = "organization", page: int | str = 1, per_page: int = PER_PAGE):
    """(the page, its suggestions) of organisations or people that share a match key: three
    queries whatever the number of records or suggestions."""
    keys, record_field = _keys(user, kind)
    number = _page_number(page)
    groups = (
        keys.order_by().values("kind", "value")
        .annotate(n=Count(record_field), first=Min(record_field)).filter(n__gt=1)
        # The reasons of the same records side by side (on one page), the oldest records first.
        .order_by("-n", "first", "kind", "value").values_list("kind", "value")
    )
    wanted = list(groups[(number - 1) * per_page : number * per_page + 1])
    page = Page(number=number, has_next=len(wanted) > per_page)
    wanted = wanted[:per_page]
    if not wanted:
        return page, []
    members = _members(keys, wanted, record_field)
    ids = {pk for _k, _v, pk in members}
    records = _organizations(user, ids) if kind == "organization" else _persons(user, ids)
    return page, _suggestions(wanted, members, records)


def duplicates_of(user, record, *, limit: int = CANDIDATES) -> list[Suggestion]:
    """The visible records of the same kind that share a match key with `record` (an Organization
    or a Person), each as a suggestion of the two with the reasons; three queries."""
    kind = "organization" if isinstance(record, Organization) else "person"
    keys, record_field = _keys(user, kind)
    own = list(MatchKey.objects.filter(**{record_field: record.pk}).values_list("kind", "value"))
    if not own:
        return []
    members = sorted(
        (m for m in _members(keys, own, record_field) if m[2] != record.pk), key=lambda member: member[2]
    )
    ids = list(dict.fromkeys(pk for _k, _v, pk in members))[:limit]
    records = _organizations(user, ids) if kind == "organization" else _persons(user, ids)
    found = []
    for pk in ids:
        if pk in records:
            reasons = [Reason(k, _shown_value(k, v)) for k, v, member in members if member == pk]
            found.append(Suggestion(records=[records[pk]], reasons=reasons))
    return found


def kind_label(kind: str) -> str:
    return _("Organisations") if kind == "organization" else _("People")
