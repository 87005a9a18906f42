"""Custom fields: the fields admins add to deals, organisations, people and activities.

A definition (`CustomField`) names a field of one kind of record by a `key` that never changes;
a record keeps its values in its `custom` JSON column, {key: value}, a key absent when the field
is empty. Values are stored in JSON's own types so that the database can compare and sort them
(and PostgreSQL index them): text, long text, URL, e-mail, phone and single choice as strings,
number and money as numbers (money in the field's currency), date as an ISO date string (which
sorts as the dates do), yes/no as true/false, multiple choice as a list of strings, user as the
user's id.

`values_clean` is the one validation of values: the forms, the API, the importer, the bulk
changes and the entry rules all go through it. The definitions are written here too, each write
audited like the rest of the configuration.
"""
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, model_snapshot, snapshot_diff

from .exceptions import PipelineError
from .models import CustomField, FieldType, RecordKind, Transition
from .names import TranslationsInvalid, translations_clean

MAX_CARD_FIELDS = 3
MAX_TEXT = 200
MAX_LONG_TEXT = 10_000
MAX_NUMBER = Decimal("1e15")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
CUSTOM_FIELD_FIELDS = (
    "record_kind", "key", "name", "name_translations", "field_type", "choices", "currency", "required", "help_text",
    "position", "is_active", "on_cards",
)
# What a definition may change once it exists: its key and its kind are what values and history
# are stored under, and a type change would leave stored values of the old type.
UNCHANGEABLE = ("record_kind", "key", "field_type")


class CustomFieldsInvalid(PipelineError):
    """Values the definitions refuse; `errors` is {key: message}. Nothing was changed."""

    def __init__(self, errors: dict[str, str], *, deal=None):
        self.errors = errors
        super().__init__(" ".join(f"{key}: {message}" for key, message in errors.items()), deal=deal, code="invalid_custom_field")


class CustomFieldRefused(PipelineError):
    def __init__(self, message, *, code: str, field: str | None = None):
        super().__init__(message, code=code)
        self.field = field


# --- Reading the definitions ----------------------------------------------------------------------


def definitions(kind: str, *, active: bool = True) -> list[CustomField]:
    """The fields of one kind of record, in their order (one query)."""
    qs = CustomField.objects.filter(record_kind=kind)
    if active:
        qs = qs.filter(is_active=True)
    return list(qs.order_by("position", "pk"))


def card_definitions() -> list[CustomField]:
    """The deal fields the board's cards show (at most three): one small query per board response
    (not cached: a cold cache would make the board's query count differ between responses)."""
    return list(
        CustomField.objects.filter(record_kind=RecordKind.DEAL, is_active=True, on_cards=True)
        .order_by("position", "pk")[:MAX_CARD_FIELDS]
    )


# --- Values ---------------------------------------------------------------------------------------


def _money(value, *, places: bool) -> int | float:
    try:
        number = Decimal(str(value).strip().replace(" ", ""))
    except (InvalidOperation, ValueError):
        raise ValueError(_("“%(value)s” is not a number.") % {"value": value}) from None
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ValueError(_("This number is too large."))
    if places:
        number = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return int(number) if number == number.to_integral_value() else float(number)


def _is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, (list, tuple)) and not raw)


def value_clean(definition: CustomField, raw):
    """The value to store for `raw` (what a form, a client or a file sent), or None for empty.
    Raises ValueError with the message to show."""
    if _is_empty(raw):
        return None
    kind = definition.field_type
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT, FieldType.PHONE):
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ValueError(_("Enter text."))
        text = str(raw).strip() if kind != FieldType.LONG_TEXT else str(raw).strip().replace("\r\n", "\n")
        limit = MAX_LONG_TEXT if kind == FieldType.LONG_TEXT else MAX_TEXT
        if len(text) > limit:
            raise ValueError(_("At most %(limit)s characters.") % {"limit": limit})
        if kind == FieldType.PHONE and not re.fullmatch(r"[+0-9 ()./\-]{3,50}", text):
            raise ValueError(_("“%(value)s” is not a phone number.") % {"value": text})
        return text
    if kind in (FieldType.NUMBER, FieldType.MONEY):
        if isinstance(raw, bool):
            raise ValueError(_("“%(value)s” is not a number.") % {"value": raw})
        return _money(raw, places=kind == FieldType.MONEY)
    if kind == FieldType.DATE:
        if isinstance(raw, date):
            return raw.isoformat()
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": raw}) from None
    if kind == FieldType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "y", "ja", "j", "on", "x"):
            return True
        if text in ("0", "false", "no", "n", "nein", "off"):
            return False
        raise ValueError(_("“%(value)s” is neither yes nor no.") % {"value": raw})
    if kind == FieldType.CHOICE:
        text = str(raw).strip()
        if text not in definition.choices:
            raise ValueError(
                _("“%(value)s” is not one of the choices: %(choices)s.") % {"value": text, "choices": ", ".join(definition.choices)}
            )
        return text
    if kind == FieldType.MULTI_CHOICE:
        items = raw if isinstance(raw, (list, tuple)) else [part for part in str(raw).split(";")]
        chosen = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            if text not in definition.choices:
                raise ValueError(
                    _("“%(value)s” is not one of the choices: %(choices)s.") % {"value": text, "choices": ", ".join(definition.choices)}
                )
            if text not in chosen:
                chosen.append(text)
        # In the order of the definition, so that equal selections are equal values.
        return [choice for choice in definition.choices if choice in chosen] or None
    if kind == FieldType.USER:
        pk = getattr(raw, "pk", raw)
        User = get_user_model()
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            found = User.objects.filter(username=str(raw).strip(), is_active=True).values_list("pk", flat=True).first()
            if found is None:
                raise ValueError(_("There is no user “%(value)s”.") % {"value": raw}) from None
            return found
        if not User.objects.filter(pk=pk, is_active=True).exists():
            raise ValueError(_("There is no user “%(value)s”.") % {"value": raw})
        return pk
    if kind == FieldType.URL:
        text = str(raw).strip()
        try:
            URLValidator()(text)
        except ValidationError:
            raise ValueError(_("“%(value)s” is not a web address.") % {"value": text}) from None
        return text[:MAX_TEXT]
    if kind == FieldType.EMAIL:
        text = str(raw).strip()
        try:
            EmailValidator()(text)
        except ValidationError:
            raise ValueError(_("“%(value)s” is not an e-mail address.") % {"value": text}) from None
        return text[:MAX_TEXT]
    raise ValueError(_("This field has an unknown type."))


def values_clean(
    *, kind: str, values: dict, current: dict | None = None, creating: bool = False,
    fields: list[CustomField] | None = None,
) -> dict:
    """The record's new `custom` column: `current` with `values` ({key: raw value}, only the
    fields that change) cleaned and applied. A required field may not be left empty on a new
    record, nor emptied on one that has it. Raises CustomFieldsInvalid naming every bad value."""
    fields = definitions(kind) if fields is None else fields
    by_key = {f.key: f for f in fields}
    result = dict(current or {})
    errors = {}
    for key, raw in values.items():
        definition = by_key.get(key)
        if definition is None:
            errors[key] = _("There is no such field.")
            continue
        try:
            value = value_clean(definition, raw)
        except ValueError as error:
            errors[key] = str(error)
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    for definition in fields:
        if definition.required and definition.key not in result and definition.key not in errors:
            if creating or definition.key in values:
                errors[definition.key] = _("“%(field)s” needs a value.") % {"field": str(definition)}
    if errors:
        raise CustomFieldsInvalid(errors)
    return result


def _users(values) -> dict[int, str]:
    ids = {v for v in values if isinstance(v, int)}
    return {u.pk: str(u) for u in get_user_model().objects.filter(pk__in=ids)} if ids else {}


def value_text(definition: CustomField, value, *, users: dict | None = None) -> str:
    """A stored value as people read it (in the active language)."""
    if value is None or value == "" or value == []:
        return ""
    kind = definition.field_type
    if kind == FieldType.BOOLEAN:
        return _("yes") if value else _("no")
    if kind == FieldType.MULTI_CHOICE:
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    if kind == FieldType.USER:
        users = users if users is not None else _users([value])
        return users.get(value, str(value))
    if kind == FieldType.MONEY:
        currency = definition.currency or settings.STAGEFLOW["DEFAULT_CURRENCY"]
        return f"{Decimal(str(value)):,.2f} {currency}"
    if kind == FieldType.DATE:
        return str(value)
    return str(value)


@dataclass(frozen=True)
class Shown:
    """One custom field of a record as a page or a card shows it."""

    key: str
    label: str
    text: str
    field_type: str
    value: object


def shown(records, kind: str, *, fields: list[CustomField] | None = None, empty: bool = True) -> None:
    """Set `custom_shown` (a list of Shown, in the fields' order) on each record; at most two
    queries for any number of records (the definitions, and the users that user fields name)."""
    fields = definitions(kind) if fields is None else fields
    user_keys = [f.key for f in fields if f.field_type == FieldType.USER]
    users = _users([(r.custom or {}).get(k) for r in records for k in user_keys]) if user_keys else {}
    for record in records:
        values = record.custom or {}
        record.custom_shown = [
            Shown(f.key, str(f), value_text(f, values.get(f.key), users=users), f.field_type, values.get(f.key))
            for f in fields
            if empty or values.get(f.key) not in (None, "", [])
        ]


def changes(*, kind: str, old: dict, new: dict, fields: list[CustomField] | None = None) -> list[tuple[str, str, str, str]]:
    """(key, label, old text, new text) of every field whose value differs, for the history."""
    fields = definitions(kind, active=False) if fields is None else fields
    by_key = {f.key: f for f in fields}
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    users = _users([*(old.get(k) for k in keys), *(new.get(k) for k in keys)]) if any(
        by_key.get(k) is not None and by_key[k].field_type == FieldType.USER for k in keys
    ) else {}
    rows = []
    for key in keys:
        definition = by_key.get(key)
        if definition is None:
            rows.append((key, key, str(old.get(key, "")), str(new.get(key, ""))))
            continue
        rows.append((
            key, definition.name, value_text(definition, old.get(key), users=users),
            value_text(definition, new.get(key), users=users),
        ))
    return rows


def audit_snapshot(kind: str, custom: dict, fields: list[CustomField] | None = None) -> dict[str, str]:
    """The custom values as audit trail entries ({"label [key]": text}), for organisations and people."""
    return {f"{label} [{key}]": new for key, label, _old, new in changes(kind=kind, old={}, new=custom or {}, fields=fields)}


def missing(*, keys, custom: dict) -> list[str]:
    """Labels of the deal fields among `keys` that `custom` has no value for (the entry rules)."""
    absent = [key for key in keys if (custom or {}).get(key) in (None, "", [])]
    if not absent:
        return []
    names = {f.key: str(f) for f in CustomField.objects.filter(record_kind=RecordKind.DEAL, key__in=absent)}
    return [_("a value for “%(field)s”") % {"field": names.get(key, key)} for key in absent]


# --- Writing the definitions ------------------------------------------------------------------------


def _clean(fields: dict, *, instance: CustomField | None) -> dict:
    unknown = set(fields) - set(CUSTOM_FIELD_FIELDS)
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))}")
    if instance is not None:
        for name in UNCHANGEABLE:
            if name in fields and fields[name] != getattr(instance, name):
                raise CustomFieldRefused(
                    _("A field's kind of record, key and type cannot change once it exists; add a new field instead."),
                    code="unchangeable", field=name,
                )
    kind = fields.get("record_kind", instance.record_kind if instance else None)
    if kind not in RecordKind.values:
        raise CustomFieldRefused(_("Choose the kind of record."), code="invalid_kind", field="record_kind")
    if "key" in fields:
        fields["key"] = (fields["key"] or "").strip().lower()
        if not KEY_PATTERN.match(fields["key"]):
            raise CustomFieldRefused(
                _("A key starts with a letter and has only small letters, digits and underscores (at most 50)."),
                code="invalid_key", field="key",
            )
        if instance is None and CustomField.objects.filter(record_kind=kind, key=fields["key"]).exists():
            raise CustomFieldRefused(_("Another field already has this key."), code="duplicate_key", field="key")
    if "name" in fields:
        fields["name"] = " ".join((fields["name"] or "").split())
        if not fields["name"]:
            raise CustomFieldRefused(_("Give the field a label."), code="invalid_name", field="name")
    if "name_translations" in fields:
        try:
            fields["name_translations"] = translations_clean(fields["name_translations"])
        except TranslationsInvalid as invalid:
            raise CustomFieldRefused(str(invalid), code="invalid_translations", field="name_translations") from None
    if instance is None:
        fields.setdefault("field_type", FieldType.TEXT)
    field_type = fields.get("field_type", instance.field_type if instance else None)
    if field_type not in FieldType.values:
        raise CustomFieldRefused(_("Choose the type of the field."), code="invalid_type", field="field_type")
    choices = fields.get("choices", instance.choices if instance else [])
    if isinstance(choices, str):
        choices = choices.splitlines()
    choices = list(dict.fromkeys(" ".join(str(c).split()) for c in (choices or []) if str(c).strip()))
    if field_type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        if not choices:
            raise CustomFieldRefused(_("A choice field needs at least one choice."), code="no_choices", field="choices")
        if any(";" in c or len(c) > 100 for c in choices):
            raise CustomFieldRefused(
                _("A choice has at most 100 characters and no semicolon."), code="invalid_choices", field="choices"
            )
        if instance is not None:
            dropped = set(instance.choices) - set(choices)
            if dropped and _choice_in_use(instance, dropped):
                raise CustomFieldRefused(
                    _("Records still have the choices %(choices)s; change them first.") % {"choices": ", ".join(sorted(dropped))},
                    code="choice_in_use", field="choices",
                )
    else:
        choices = []
    if "choices" in fields or instance is None:
        fields["choices"] = choices
    if "currency" in fields:
        fields["currency"] = (fields["currency"] or "").strip().upper()
        if fields["currency"] and fields["currency"] not in [c.upper() for c in settings.STAGEFLOW["CURRENCIES"]]:
            raise CustomFieldRefused(
                _("“%(value)s” is not one of the currencies used here.") % {"value": fields["currency"]},
                code="invalid_currency", field="currency",
            )
    on_cards = fields.get("on_cards", instance.on_cards if instance else False)
    if on_cards:
        if kind != RecordKind.DEAL:
            raise CustomFieldRefused(_("Only deal fields are shown on cards."), code="cards_deals_only", field="on_cards")
        others = CustomField.objects.filter(record_kind=RecordKind.DEAL, on_cards=True, is_active=True)
        if instance is not None:
            others = others.exclude(pk=instance.pk)
        if others.count() >= MAX_CARD_FIELDS:
            raise CustomFieldRefused(
                _("Cards show at most %(count)s fields; take another one off the cards first.") % {"count": MAX_CARD_FIELDS},
                code="too_many_on_cards", field="on_cards",
            )
    return fields


def _record_model(kind: str):
    from django.apps import apps

    return {
        RecordKind.DEAL: apps.get_model("pipeline", "Deal"),
        RecordKind.ORGANIZATION: apps.get_model("pipeline", "Organization"),
        RecordKind.PERSON: apps.get_model("pipeline", "Person"),
        RecordKind.ACTIVITY: apps.get_model("activities", "Activity"),
    }[kind]


def _choice_in_use(definition: CustomField, dropped: set[str]) -> bool:
    model = _record_model(definition.record_kind)
    key = definition.key
    if definition.field_type == FieldType.CHOICE:
        return model.objects.filter(**{f"custom__{key}__in": sorted(dropped)}).exists()
    # Multiple choice: JSON containment is PostgreSQL's; elsewhere look at the records that have the field.
    for values in model.objects.filter(**{f"custom__has_key": key}).values_list(f"custom__{key}", flat=True).iterator():
        if set(values or []) & dropped:
            return True
    return False


def custom_field_refusal(fields: dict, *, instance: CustomField | None = None) -> CustomFieldRefused | None:
    """Why these values would be refused (the admin form shows it next to the field), or None."""
    try:
        _clean(dict(fields), instance=instance)
    except CustomFieldRefused as refusal:
        return refusal
    return None


@transaction.atomic
def custom_field_create(*, actor, actor_label: str = "", **fields) -> CustomField:
    fields = _clean(fields, instance=None)
    if "key" not in fields:
        raise CustomFieldRefused(_("Give the field a key."), code="invalid_key", field="key")
    if "name" not in fields:
        raise CustomFieldRefused(_("Give the field a label."), code="invalid_name", field="name")
    field = CustomField.objects.create(**fields)
    config_change_record(
        instance=field, action=ConfigAction.CREATE, changes=snapshot_diff(None, model_snapshot(field)), actor=actor,
        actor_label=actor_label,
    )
    return field


@transaction.atomic
def custom_field_update(*, field: CustomField | int, actor, actor_label: str = "", **fields) -> CustomField:
    """Change a definition. Its values and the history that names it keep their key."""
    locked = CustomField.objects.select_for_update().get(pk=getattr(field, "pk", field))
    fields = _clean(fields, instance=locked)
    before = model_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    changed = snapshot_diff(before, model_snapshot(locked))
    if changed:
        locked.save()
        config_change_record(instance=locked, action=ConfigAction.UPDATE, changes=changed, actor=actor, actor_label=actor_label)
    return locked


def custom_field_delete_refusal(field: CustomField) -> CustomFieldRefused | None:
    if field.record_kind == RecordKind.DEAL:
        for transition in Transition.objects.exclude(requires_fields=[]).select_related("from_stage", "to_stage"):
            if field.key in (transition.requires_fields or []):
                return CustomFieldRefused(
                    _("The entry rule “%(rule)s” needs this field; change the rule first.") % {"rule": str(transition)},
                    code="field_in_rule",
                )
    return None


@transaction.atomic
def custom_field_delete(*, field: CustomField | int, actor, actor_label: str = "") -> None:
    """Remove a definition. The records' values stay in their column (adding a field with the same
    key shows them again), and history rows keep the label they were written with."""
    locked = CustomField.objects.select_for_update().get(pk=getattr(field, "pk", field))
    refusal = custom_field_delete_refusal(locked)
    if refusal:
        raise refusal
    pk, before = locked.pk, model_snapshot(locked)
    locked.delete()
    config_change_record(
        instance=locked, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None), actor=actor,
        actor_label=actor_label,
    )


def required_keys_clean(keys) -> list[str]:
    """An entry rule's list of deal field keys: known keys, each once."""
    keys = [k for k in dict.fromkeys(str(k).strip() for k in (keys or [])) if k]
    known = set(CustomField.objects.filter(record_kind=RecordKind.DEAL, key__in=keys).values_list("key", flat=True))
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise CustomFieldRefused(
            _("There is no deal field %(keys)s.") % {"keys": ", ".join(unknown)}, code="unknown_field", field="requires_fields"
        )
    return keys
