"""Reading a list: the records a person may see, narrowed by the filter language
(pipeline.filters), in the chosen order, one page at a time by keyset (the next page starts after
the last row's sort value and id: no OFFSET, so page 2,000 costs what page 1 costs), with the
totals of everything that matches. A page costs the same few queries however many rows it has.
"""
import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum
from django.utils.dateparse import parse_datetime

from pipeline import custom_fields
from pipeline.filters import FilterField, Kind, Parsed, filters_apply, filters_parse, sort_expression

from .specs import SPECS, ListSpec

PAGE_SIZE = 50
MAX_COLUMNS = 20


@dataclass
class ListState:
    """What a list's address asks for, checked: conditions, columns, sort."""

    spec: ListSpec
    fields: list[FilterField]
    parsed: Parsed
    columns: list[FilterField]
    sort: FilterField
    descending: bool
    tab: str = ""

    @property
    def sort_param(self) -> str:
        return ("-" if self.descending else "") + self.sort.name


@dataclass
class Row:
    record: object
    cells: list


@dataclass
class ListPage:
    state: ListState
    rows: list[Row]
    count: int
    totals: list[tuple[str, Decimal]] = field(default_factory=list)
    next_cursor: str = ""


def list_state(kind: str, user, params) -> ListState:
    spec = SPECS[kind]
    fields = spec.fields(user)
    by_name = {f.name: f for f in fields}
    parsed = filters_parse(params, fields, user=user)
    names = [n for n in ",".join(params.getlist("cols") if hasattr(params, "getlist") else []).split(",") if n in by_name]
    columns = [by_name[n] for n in dict.fromkeys(names)][:MAX_COLUMNS] or [by_name[n] for n in spec.default_columns if n in by_name]
    sort = (params.get("sort") or spec.default_sort).strip()
    descending = sort.startswith("-")
    sort_field = by_name.get(sort.lstrip("-"))
    if sort_field is None or sort_field.kind == Kind.MULTI:
        parsed.errors.append(str(_unknown_sort(sort)))
        descending = spec.default_sort.startswith("-")
        sort_field = by_name[spec.default_sort.lstrip("-")]
    tab = ""
    status = [c.value for c in parsed.conditions if c.field.name == "status" and c.op == "eq"]
    if spec.tabs:
        tab = next((t.key for t in spec.tabs if t.params and list(t.params) == [("status", s) for s in status]), "")
        tab = tab or ("all" if not status else "")
    return ListState(spec, fields, parsed, columns, sort_field, descending, tab)


def _unknown_sort(sort: str):
    from django.utils.translation import gettext as _

    return _("A list cannot be sorted by “%(sort)s”; it is sorted as usual.") % {"sort": sort}


def list_queryset(state: ListState, user):
    """Every matching record the user may see, in the list's order (ties by id)."""
    qs = filters_apply(state.spec.base(user), state.parsed)
    qs = qs.annotate(_sort=sort_expression(state.sort))
    order = F("_sort").desc(nulls_last=True) if state.descending else F("_sort").asc(nulls_last=True)
    return qs.order_by(order, "-pk" if state.descending else "pk")


def _encode(value, pk: int) -> str:
    if isinstance(value, (date, datetime)):
        value = {"t": value.isoformat()}
    elif isinstance(value, Decimal):
        value = {"d": str(value)}
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


def _decode(cursor: str):
    try:
        value, pk = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(value, dict):
            text = value.get("t") or value.get("d")
            value = parse_datetime(text) or date.fromisoformat(text) if "t" in value else Decimal(text)
        return value, int(pk)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError, ArithmeticError):
        return None


def _after(qs, state: ListState, cursor: str):
    decoded = _decode(cursor) if cursor else None
    if decoded is None:
        return qs
    value, pk = decoded
    beyond, tie = ("_sort__lt", "pk__lt") if state.descending else ("_sort__gt", "pk__gt")
    if value is None:  # in the nulls, which come last either way
        return qs.filter(Q(_sort__isnull=True) & Q(**{tie: pk}))
    return qs.filter(Q(**{beyond: value}) | Q(_sort=value, **{tie: pk}) | Q(_sort__isnull=True))


def _walk(record, path: str):
    for part in path.split("__"):
        if record is None:
            return None
        record = getattr(record, part, None)
    return record


def cells(records: list, columns: list[FilterField]) -> list[Row]:
    """Each record's cells as text (a custom user field's users read in one query)."""
    user_columns = [c for c in columns if c.is_custom and c.custom.field_type == "user"]
    users = {}
    if user_columns:
        ids = {(_walk(r, c.path.rsplit("__custom__", 1)[0]) if "__custom__" in c.path else r).custom.get(c.custom.key)
               for r in records for c in user_columns}
        ids = {i for i in ids if isinstance(i, int)}
        users = {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=ids)} if ids else {}
    rows = []
    for record in records:
        texts = []
        for column in columns:
            if column.is_custom:
                owner_path, _sep, _key = column.path.rpartition("custom__")
                holder = _walk(record, owner_path.rstrip("_")) if owner_path else record
                value = (holder.custom or {}).get(column.custom.key) if holder is not None else None
                texts.append(custom_fields.value_text(column.custom, value, users=users))
                continue
            value = _walk(record, column.path)
            if column.kind == Kind.CHOICE and column.choices:
                value = dict(column.choices).get(value, value)
            texts.append(value)
        rows.append(Row(record, texts))
    return rows


def list_totals(qs, state: ListState) -> tuple[int, list[tuple[str, Decimal]]]:
    """How many records match, and (deals) their amounts per currency: one query."""
    base = qs.order_by()
    if state.spec.money:
        amount, currency = state.spec.money
        groups = list(base.values(currency).annotate(n=Count("pk"), total=Sum(amount)).order_by(currency))
        return sum(g["n"] for g in groups), [(g[currency], g["total"]) for g in groups if g["total"] is not None]
    return base.count(), []


def list_page(kind: str, user, params) -> ListPage:
    state = list_state(kind, user, params)
    qs = list_queryset(state, user)
    count, totals = list_totals(qs, state)
    records = list(_after(qs, state, params.get("after", ""))[: PAGE_SIZE + 1])
    next_cursor = ""
    if len(records) > PAGE_SIZE:
        records = records[:PAGE_SIZE]
        last = records[-1]
        next_cursor = _encode(last._sort, last.pk)
    return ListPage(state, cells(records, state.columns), count, totals, next_cursor)


def list_rows_all(kind: str, user, params, *, chunk_size: int = 2000):
    """Every matching record, as the list shows them (for the export), in chunks."""
    state = list_state(kind, user, params)
    qs = list_queryset(state, user)
    batch = []
    for record in qs.iterator(chunk_size=chunk_size):
        batch.append(record)
        if len(batch) >= chunk_size:
            yield from cells(batch, state.columns)
            batch = []
    yield from cells(batch, state.columns)
