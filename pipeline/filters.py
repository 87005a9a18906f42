"""The filter language of Stageflow's lists: one query-string grammar for every field of a record,
its related records' fields and its custom fields, so that a filter is a URL people can share.

    ?status=open&amount__gte=1000&organization.country=DE&cf.tier__in=Gold,Silver&owner=me
    &expected_close__gte=month_start&expected_close__lte=month_end

Each parameter is a field's name, optionally `__` and an operator: `eq` (the default), `ne`, `lt`,
`lte`, `gt`, `gte`, `contains` (text), `in` (comma-separated values) and `empty` (1: has no
value, 0: has one). Values are written as in the API: numbers with a dot, dates as YYYY-MM-DD or
one of the words `today`, `month_start`, `month_end`, `quarter_start`, `quarter_end`, yes/no as
1/0, users by id or `me`. Custom fields are `cf.<key>`.

Which fields a list offers is the list's business (`FilterField`s); parsing, checking and
applying them lives here. `filters_parse` never raises: a parameter it cannot read is reported
with a message and left out, so that a stale shared link still shows a list.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import F, FloatField, Q, QuerySet, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import CustomField, FieldType

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "contains", "in", "empty")
RESERVED = frozenset({"sort", "cols", "view", "after", "page", "saved", "format", "q", "csrfmiddlewaretoken", "scope"})
CUSTOM_PREFIX = "cf."
MAX_IN_VALUES = 50


class Kind:
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    BOOLEAN = "boolean"
    USER = "user"
    ID = "id"
    MULTI = "multi"


_CUSTOM_KINDS = {
    FieldType.TEXT: Kind.TEXT, FieldType.LONG_TEXT: Kind.TEXT, FieldType.URL: Kind.TEXT, FieldType.EMAIL: Kind.TEXT,
    FieldType.PHONE: Kind.TEXT, FieldType.NUMBER: Kind.NUMBER, FieldType.MONEY: Kind.NUMBER, FieldType.DATE: Kind.DATE,
    FieldType.BOOLEAN: Kind.BOOLEAN, FieldType.CHOICE: Kind.CHOICE, FieldType.MULTI_CHOICE: Kind.MULTI,
    FieldType.USER: Kind.USER,
}


@dataclass(frozen=True)
class FilterField:
    """A field a list can be filtered (and sorted) by. `path` is the ORM path from the listed
    model (`organization__country`); a custom field's is `custom__<key>`."""

    name: str
    label: str
    path: str
    kind: str = Kind.TEXT
    choices: tuple = ()
    custom: CustomField | None = field(default=None, compare=False)

    @property
    def is_custom(self) -> bool:
        return self.custom is not None


def custom_filter_fields(definitions: list[CustomField], *, prefix: str = "") -> list[FilterField]:
    """The filter fields of custom fields (`prefix` for a related record's: "organization__")."""
    return [
        FilterField(
            name=CUSTOM_PREFIX + d.key if not prefix else f"{prefix.rstrip('_').replace('__', '.')}.{CUSTOM_PREFIX}{d.key}",
            label=str(d), path=f"{prefix}custom__{d.key}", kind=_CUSTOM_KINDS.get(d.field_type, Kind.TEXT),
            choices=tuple((c, c) for c in d.choices), custom=d,
        )
        for d in definitions
    ]


@dataclass(frozen=True)
class Condition:
    field: FilterField
    op: str
    value: object
    raw: str


@dataclass
class Parsed:
    conditions: list[Condition]
    errors: list[str]

    def as_params(self) -> list[tuple[str, str]]:
        """The conditions as query parameters again (what a saved view stores)."""
        return [(c.field.name if c.op == "eq" else f"{c.field.name}__{c.op}", c.raw) for c in self.conditions]


def _relative_date(text: str) -> date | None:
    today = timezone.localdate()
    quarter_first_month = 3 * ((today.month - 1) // 3) + 1
    if text == "today":
        return today
    if text == "month_start":
        return today.replace(day=1)
    if text == "month_end":
        return (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if text == "quarter_start":
        return today.replace(month=quarter_first_month, day=1)
    if text == "quarter_end":
        last_month = today.replace(month=quarter_first_month + 2, day=28)
        return (last_month + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return None


def _value(spec: FilterField, text: str, *, user):
    """`text` as the field's type compares it; ValueError with a message when it cannot be."""
    text = text.strip()
    if spec.kind == Kind.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("“%(value)s” is not a number.") % {"value": text}) from None
        if not number.is_finite():
            raise ValueError(_("“%(value)s” is not a number.") % {"value": text})
        return float(number) if spec.is_custom else number
    if spec.kind in (Kind.DATE, Kind.DATETIME):
        day = _relative_date(text)
        if day is None:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": text}) from None
        return day.isoformat() if spec.is_custom else day
    if spec.kind == Kind.BOOLEAN:
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(_("“%(value)s” is neither yes nor no.") % {"value": text})
    if spec.kind in (Kind.USER, Kind.ID):
        if spec.kind == Kind.USER and text == "me":
            return user.pk
        if not text.isdigit():
            raise ValueError(_("“%(value)s” is not an id.") % {"value": text})
        return int(text)
    if spec.kind in (Kind.CHOICE, Kind.MULTI) and spec.choices and text not in {str(v) for v, _label in spec.choices}:
        raise ValueError(_("“%(value)s” is not one of the choices.") % {"value": text})
    return text


def filters_parse(params, fields: list[FilterField], *, user) -> Parsed:
    """The conditions in `params` (a QueryDict or a list of pairs) over `fields`."""
    by_name = {f.name: f for f in fields}
    items = params.lists() if hasattr(params, "lists") else _grouped(params)
    conditions, errors = [], []
    for key, values in items:
        if key in RESERVED:
            continue
        name, _sep, op = key.partition("__")
        op = op or "eq"
        spec = by_name.get(name)
        if spec is None or op not in OPERATORS:
            errors.append(_("“%(name)s” is not a filter of this list.") % {"name": key})
            continue
        for raw in values:
            if raw == "" and op != "empty":
                continue
            try:
                if op == "empty":
                    value = raw.strip().lower() not in ("0", "false", "no")
                elif op == "in":
                    value = [_value(spec, part, user=user) for part in raw.split(",")[:MAX_IN_VALUES] if part.strip()]
                elif op == "contains":
                    if spec.kind not in (Kind.TEXT, Kind.MULTI):
                        raise ValueError(_("“%(name)s” cannot contain text.") % {"name": spec.label})
                    value = raw.strip()
                else:
                    value = _value(spec, raw, user=user)
                    if op in ("lt", "lte", "gt", "gte") and spec.kind in (Kind.BOOLEAN, Kind.MULTI):
                        raise ValueError(_("“%(name)s” cannot be compared.") % {"name": spec.label})
            except ValueError as error:
                errors.append(f"{spec.label}: {error}")
                continue
            conditions.append(Condition(spec, op, value, raw))
    return Parsed(conditions, errors)


def _grouped(pairs) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return list(grouped.items())


def sort_expression(spec: FilterField):
    """What a list orders by for `spec`: a custom number as a number, other custom values as the
    JSON text they are stored as (ISO dates sort as dates)."""
    if spec.is_custom:
        if spec.kind == Kind.NUMBER:
            return Cast(KT(spec.path), FloatField())
        return KT(spec.path)
    return F(spec.path)


def _custom_q(cond: Condition, annotated: str) -> Q:
    spec, op, value = cond.field, cond.op, cond.value
    key = spec.custom.key
    prefix = spec.path[: -len(f"custom__{key}")]
    has_key = Q(**{f"{prefix}custom__has_key": key})
    if op == "empty":
        return ~has_key if value else has_key
    postgres = connection.vendor == "postgresql"
    if spec.kind == Kind.MULTI:
        values = value if op == "in" else [value]
        if postgres:  # JSON containment, answered by the GIN index
            q = Q()
            for v in values:
                q |= Q(**{f"{prefix}custom__contains": {key: [v]}})
        else:
            q = Q()
            for v in values:
                q |= Q(**{f"{annotated}__contains": f'"{v}"'})
        return ~q if op == "ne" else q
    if op in ("eq", "ne", "in") and spec.kind != Kind.NUMBER:
        values = value if op == "in" else [value]
        q = Q()
        for v in values:
            # PostgreSQL: JSON containment, answered by the GIN index; elsewhere the key's JSON value.
            q |= Q(**{f"{prefix}custom__contains": {key: v}}) if postgres else Q(**{f"{prefix}custom__{key}": v})
        return ~q if op == "ne" else q
    if op == "in":
        return Q(**{f"{annotated}__in": value})
    if op == "contains":
        return Q(**{f"{annotated}__icontains": value})
    lookup = {"eq": "exact", "ne": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[op]
    q = Q(**{f"{annotated}__{lookup}": value})
    return ~q & has_key if op == "ne" else q


def filters_apply(qs: QuerySet, parsed: Parsed) -> QuerySet:
    """`qs` narrowed by every condition (all must hold)."""
    annotations = {}
    q = Q()
    for index, cond in enumerate(parsed.conditions):
        spec, op, value = cond.field, cond.op, cond.value
        if spec.is_custom:
            alias = f"_cf_{index}"
            annotations[alias] = sort_expression(spec) if spec.kind == Kind.NUMBER else Cast(KT(spec.path), TextField())
            q &= _custom_q(cond, alias)
            continue
        if op == "empty":
            empty = Q(**{f"{spec.path}__isnull": True})
            if spec.kind in (Kind.TEXT, Kind.CHOICE):
                empty |= Q(**{spec.path: ""})
            q &= empty if value else ~empty
        elif op == "contains":
            q &= Q(**{f"{spec.path}__icontains": value})
        elif op == "in":
            q &= Q(**{f"{spec.path}__in": value})
        elif op == "ne":
            q &= ~Q(**{spec.path: value}) | Q(**{f"{spec.path}__isnull": True})
        else:
            lookup = "" if op == "eq" else f"__{op}"
            if spec.kind == Kind.DATETIME:
                lookup = f"__date{lookup}"
            if spec.kind == Kind.TEXT and op == "eq":
                lookup = "__iexact"
            q &= Q(**{f"{spec.path}{lookup}": value})
    if annotations:
        qs = qs.alias(**annotations)
    return qs.filter(q)
