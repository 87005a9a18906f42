"""Validating and committing an import.

`import_preview` checks every row against the database (per-row errors, duplicates) without
writing anything. `import_commit` checks again and then writes all rows in one transaction:
either every row is imported or none is. Deals are created through pipeline.services.deal_create,
so they get their history and meet the entry rules of their stage like any other new deal.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy

from config import background
from exports.services import unneutralise
from localization.formatting import decimal_separator_shown, parse_amount, reads_two_ways
from forecasting import importing as history_importing
from pipeline import configuration, custom_fields
from pipeline import organizations as organization_services
from pipeline import people as people_services
from pipeline import services as pipeline_services
from pipeline.exceptions import PipelineError
from pipeline.models import (
    CompanySize, DealStatus, LeadSource, LostReason, Organization, Person, PersonEmail, Pipeline, Stage, StageKind,
)
from pipeline.selectors import assignable_users, visible_organizations, visible_users

from .models import ImportJob, ImportKind, ImportLayout, ImportStatus
from .parsing import ParsedFile

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 25
LEAD_BATCH = 100
LOOKUP_CHUNK = 500


def import_settings() -> dict:
    return {
        "max_bytes": settings.STAGEFLOW.get("IMPORT_MAX_BYTES", 5 * 1024 * 1024),
        "max_rows": settings.STAGEFLOW.get("IMPORT_MAX_ROWS", 20_000),
        "background_rows": settings.STAGEFLOW.get("IMPORT_BACKGROUND_ROWS", 200),
    }


# --- Fields and the column mapping ---------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    label: object
    required: bool = False
    synonyms: tuple[str, ...] = ()
    # A custom field (pipeline.custom_fields): its values go to the record's `custom` column.
    definition: object = None


CUSTOM_TARGET_PREFIX = "custom."
CUSTOM_KINDS = {ImportKind.ORGANIZATIONS: "organization", ImportKind.DEALS: "deal", ImportKind.PEOPLE: "person"}


def targets(kind: str) -> list[Target]:
    """The fields a column can be mapped to: the fixed ones, then the custom fields an admin
    defined for the kind of record the import creates (found under their key or their label)."""
    custom = [
        Target(CUSTOM_TARGET_PREFIX + f.key, f.name, synonyms=(f.key, str(f), f"{f.name} [{f.key}]"), definition=f)
        for f in custom_fields.definitions(CUSTOM_KINDS[kind])
    ] if kind in CUSTOM_KINDS else []
    return [*TARGETS[kind], *custom]


def custom_cell_parse(definition, text: str, styles: dict | None = None):
    """A cell of a custom field's column: numbers and dates as the file writes them (1.234,50;
    31.12.2026), then the field's own rules (pipeline.custom_fields)."""
    from pipeline.models import FieldType

    text = (text or "").strip()
    if not text:
        return None
    if definition.field_type in (FieldType.NUMBER, FieldType.MONEY):
        text = amount_parse(text, **(styles or {}))
    elif definition.field_type == FieldType.DATE:
        text = date_parse(text, **(styles or {}))
    try:
        return custom_fields.value_clean(definition, text)
    except ValueError as error:
        raise CellError(str(error)) from None


LEAD_TARGETS = [
    Target("industry", gettext_lazy("Industry"), synonyms=("industry", "branche", "sector", "sektor")),
    Target("company_size", gettext_lazy("Company size"),
           synonyms=("company size", "size", "employees", "number of employees", "unternehmensgroesse",
                     "unternehmensgröße", "größe", "groesse", "mitarbeiter", "mitarbeiterzahl")),
    Target("country", gettext_lazy("Country"), synonyms=("country", "country code", "land", "laendercode", "country name", "billing country",
                    "country region", "mailing country")),
    Target("website", gettext_lazy("Website"), synonyms=("website", "web", "url", "domain", "homepage", "webseite", "internet")),
    Target("source", gettext_lazy("Source"), synonyms=("source", "lead source", "quelle", "herkunft", "lead quelle")),
    Target("contact_name", gettext_lazy("Contact person"),
           synonyms=("contact", "contact name", "contact person", "ansprechpartner", "kontakt", "kontaktperson")),
    Target("contact_email", gettext_lazy("Contact e-mail"),
           synonyms=("email", "e mail", "contact email", "contact e mail", "mail", "e mail adresse")),
    Target("contact_phone", gettext_lazy("Contact phone"),
           synonyms=("phone", "telephone", "tel", "telefon", "contact phone", "mobile", "telefonnummer")),
]

PEOPLE_TARGETS = [
    Target("name", gettext_lazy("Name"),
           synonyms=("name", "full name", "contact name", "person", "person name", "contact", "kontakt",
                     "ansprechpartner", "vollständiger name")),
    Target("first_name", gettext_lazy("First name"), synonyms=("first name", "firstname", "given name", "vorname")),
    Target("last_name", gettext_lazy("Last name"),
           synonyms=("last name", "lastname", "surname", "family name", "nachname", "familienname")),
    Target("emails", gettext_lazy("E-mail addresses"),
           synonyms=("email", "e mail", "emails", "email address", "e mail address", "person email", "work email",
                     "e mail adresse")),
    Target("phones", gettext_lazy("Phone numbers"),
           synonyms=("phone", "phones", "phone number", "telephone", "mobile", "mobile phone", "person phone", "tel",
                     "telefon", "telefonnummer", "mobil")),
    Target("job_title", gettext_lazy("Job title"),
           synonyms=("job title", "title", "position", "role", "jobtitel", "funktion", "berufsbezeichnung")),
    Target("organization", gettext_lazy("Organisation"),
           synonyms=("organization", "organisation", "company", "company name", "account", "account name",
                     "person organization", "firma", "unternehmen")),
    Target("owner", gettext_lazy("Owner"), synonyms=("owner", "contact owner", "person owner", "besitzer",
                                                     "verantwortlich")),
]

TARGETS = {
    ImportKind.PEOPLE: PEOPLE_TARGETS,
    ImportKind.ORGANIZATIONS: [
        Target("name", gettext_lazy("Company"), required=True,
               synonyms=("company", "company name", "name", "organisation", "organization", "account", "firma",
                         "unternehmen", "firmenname", "lead")),
        *LEAD_TARGETS,
        Target("owner", gettext_lazy("Owner"), synonyms=("owner", "lead owner", "rep", "sales rep", "assigned to",
                                                         "besitzer", "verantwortlich", "zustaendig")),
    ],
    ImportKind.DEALS: [
        Target("title", gettext_lazy("Deal title"), required=True,
               synonyms=("title", "deal", "deal name", "deal title", "opportunity", "opportunity name", "titel", "name")),
        Target("company", gettext_lazy("Company"), required=True,
               synonyms=("company", "company name", "organisation", "organization", "account", "firma",
                         "unternehmen", "firmenname", "lead", "kunde", "customer", "account name",
                         "associated company", "company name primary")),
        Target("amount", gettext_lazy("Amount"), synonyms=("amount", "value", "deal value", "betrag", "wert", "volumen")),
        Target("currency", gettext_lazy("Currency"), synonyms=("currency", "waehrung", "währung")),
        Target("expected_close", gettext_lazy("Expected close"),
               synonyms=("expected close", "expected close date", "close date", "closing date", "close",
                         "abschlussdatum", "abschluss")),
        Target("stage", gettext_lazy("Stage"), synonyms=("stage", "phase", "stufe", "deal stage")),
        Target("owner", gettext_lazy("Owner"), synonyms=("owner", "deal owner", "opportunity owner", "rep", "sales rep", "assigned to",
                                                         "besitzer", "verantwortlich", "zustaendig")),
        Target("next_step", gettext_lazy("Next step"), synonyms=("next step", "naechster schritt", "nächster schritt")),
        Target("probability", gettext_lazy("Probability (%)"),
               synonyms=("probability", "probability %", "wahrscheinlichkeit")),
        Target("created_at", gettext_lazy("Created on"),
               synonyms=("created", "created at", "created on", "created date", "create date", "date created",
                         "creation date", "erstellt", "erstellt am", "angelegt", "angelegt am")),
        Target("status", gettext_lazy("Status (open, won, lost)"),
               synonyms=("status", "deal status", "state", "outcome", "won lost", "ergebnis")),
        Target("closed_at", gettext_lazy("Closed on (won or lost)"),
               synonyms=("closed", "closed at", "closed on", "closed date", "date closed", "actual close date",
                         "won date", "lost date", "won time", "lost time", "geschlossen am", "abgeschlossen am")),
        Target("lost_reason", gettext_lazy("Lost reason"),
               synonyms=("lost reason", "reason lost", "loss reason", "closed lost reason", "verlustgrund",
                         "grund")),
        Target("external_id", gettext_lazy("ID in the previous CRM"),
               synonyms=("external id", "id", "record id", "deal id", "opportunity id", "crm id", "deal nr")),
        *LEAD_TARGETS,
    ],
}


def _normal_header(text: str) -> str:
    # deal_stage, close-date and "Close Date" are the same header.
    return " ".join(re.sub(r"[\W_]+", " ", (text or "").casefold()).split())


def mapping_guess(kind: str, headers: list[str]) -> dict[str, int]:
    """Target field → column index, guessed from the header names; every column used once. The
    export of a CRM that teams usually leave is recognised by its header row (imports.presets)
    and mapped as that CRM names its columns first."""
    from .presets import preset_detect, preset_mapping

    normal = [_normal_header(h) for h in headers]
    mapping: dict[str, int] = {}
    preset = preset_detect(kind, headers)
    if preset is not None:
        mapping = preset_mapping(preset, headers, {t.name for t in TARGETS[kind]})
    used: set[int] = set(mapping.values())
    for target in targets(kind):
        if target.name in mapping:
            continue
        for synonym in (_normal_header(s) for s in (str(target.label), *target.synonyms)):
            index = next((i for i, h in enumerate(normal) if h == synonym and i not in used), None)
            if index is not None:
                mapping[target.name] = index
                used.add(index)
                break
    return mapping


SAMPLE_VALUES = {
    "name": "Muster GmbH", "company": "Muster GmbH", "title": "Website relaunch", "amount": "12500.00",
    "currency": "EUR", "expected_close": "2026-12-31", "stage": "", "owner": "", "next_step": "Send the offer",
    "probability": "", "created_at": "", "status": "", "closed_at": "", "lost_reason": "", "external_id": "", "industry": "Software", "company_size": "51-200", "country": "DE",
    "website": "https://muster.example", "source": "referral", "contact_name": "Erika Muster",
    "contact_email": "erika@muster.example", "contact_phone": "030 1234567",
}


def sample_rows(kind: str, *, user, stage_name: str = "") -> list[list[str]]:
    """A header row (the field names, which the mapping step recognises) and one example row."""
    columns = targets(kind)
    values = {**SAMPLE_VALUES, "owner": user.username, "stage": stage_name}
    if kind == ImportKind.PEOPLE:
        values.update(name="Erika Muster", first_name="", last_name="", emails="erika@muster.example",
                      phones="030 1234567; +49 170 1234567", job_title="Head of purchasing", organization="Muster GmbH")
    return [[str(t.label) for t in columns], [values.get(t.name, "") for t in columns]]


def mapping_missing(kind: str, mapping: dict) -> list[str]:
    return [str(t.label) for t in targets(kind) if t.required and mapping.get(t.name) is None]


# --- Cleaning values ---------------------------------------------------------------------------


class CellError(ValueError):
    pass


def amount_parse(text: str, *, decimal_separator: str | None = None, mixed: bool = False,
                 confirmed: bool = False) -> Decimal | None:
    """'1,234.50', '1.234,50', '€ 1 234', '1234' → Decimal (localization.formatting.parse_amount).
    `decimal_separator` is the one the file's column uses (see amount_column_style); in a column
    that uses both (`mixed`), a value that reads two ways ("7.890") is refused, never guessed.
    Raises CellError."""
    raw = (text or "").strip()
    if not raw:
        return None
    if mixed and reads_two_ways(raw):
        raise CellError(
            _("“%(value)s” reads two ways (this column writes decimals both with a point and with a comma); "
              "write it without a thousands separator, e.g. 7890 or 7,89.") % {"value": raw}
        )
    try:
        value = parse_amount(raw, decimal_separator=decimal_separator)
    except ValueError:
        if confirmed and re.fullmatch(r"[^\d]*[-+]?\d[\d.,\s]*[^\d]*", raw):
            if decimal_separator == ".":
                message = _("“%(value)s” cannot be read with the decimal point you confirmed for this file; "
                            "correct the value or the format.")
            else:
                message = _("“%(value)s” cannot be read with the decimal comma you confirmed for this file; "
                            "correct the value or the format.")
            raise CellError(message % {"value": raw}) from None
        raise CellError(_("“%(value)s” is not an amount.") % {"value": raw}) from None
    try:
        return pipeline_services.money_clean(value)
    except PipelineError as err:
        raise CellError(str(err.message)) from err


DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%Y/%m/%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%S")


def date_parse(text: str, *, order: str | None = None) -> date | None:
    """A date as the file writes it. With the date order the uploader confirmed ("dmy", "mdy",
    "ymd") a value is read in that order only; one that is a date only in another order is refused
    with both readings named, never read the other way silently."""
    raw = (text or "").strip()
    if not raw:
        return None
    if order:
        return _date_in_order(raw, order)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    if "/" in raw:
        candidates = set()
        for fmt in ("%d/%m/%Y", "%m/%d/%Y"):
            try:
                candidates.add(datetime.strptime(raw, fmt).date())
            except ValueError:
                pass
        if len(candidates) == 1:
            return candidates.pop()
        if len(candidates) > 1:
            raise CellError(_("“%(value)s” could be a date in two ways; write it as YYYY-MM-DD.") % {"value": raw})
    raise CellError(_("“%(value)s” is not a date; write it as YYYY-MM-DD or DD.MM.YYYY.") % {"value": raw})


def _date_in_order(raw: str, order: str) -> date:
    from .values import DATE_ORDERS, DATE_PARTS, date_orders_possible

    possible = date_orders_possible(raw)
    if order in possible or possible == {"ymd"}:
        a, b, c = (int(part) for part in DATE_PARTS.match(raw).groups())
        chosen = order if order in possible else "ymd"
        year, month, day = {"dmy": (c, b, a), "mdy": (c, a, b), "ymd": (a, b, c)}[chosen]
        if year < 100:
            year += 2000 if year < 70 else 1900
        try:
            return date(year, month, day)
        except ValueError:
            pass
    elif possible:
        raise CellError(
            _("“%(value)s” is not a date in the order you confirmed (%(order)s); it would read as %(other)s. "
              "Correct the row or the date order.")
            % {"value": raw, "order": DATE_ORDERS[order], "other": ", ".join(str(DATE_ORDERS[o]) for o in sorted(possible))}
        )
    for fmt in DATE_FORMATS[4:]:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise CellError(_("“%(value)s” is not a date in the order you confirmed (%(order)s).")
                    % {"value": raw, "order": DATE_ORDERS[order]})


def _choice_key(text: str) -> str:
    return re.sub(r"[\s.,]", "", str(text).casefold().replace("–", "-").replace("_", ""))


def _choice_lookup(choices) -> dict[str, str]:
    table = {}
    for value, label in choices.choices:
        table[_choice_key(value)] = value
        table[_choice_key(label)] = value
    return table


SIZE_BOUNDS = [(10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000")]


def company_size_parse(text: str) -> str:
    raw = (text or "").strip()
    if not raw:
        return ""
    compact = _choice_key(raw)
    table = _choice_lookup(CompanySize)
    if compact in table:
        return table[compact]
    if compact.isdigit():
        n = int(compact)
        return next((code for bound, code in SIZE_BOUNDS if n <= bound), "1000+")
    raise CellError(_("“%(value)s” is not a company size; use %(allowed)s or a number of employees.")
                    % {"value": raw, "allowed": ", ".join(CompanySize.values)})


def source_parse(text: str) -> str:
    raw = (text or "").strip()
    if not raw:
        return LeadSource.OTHER
    table = _choice_lookup(LeadSource)
    if _choice_key(raw) in table:
        return table[_choice_key(raw)]
    raise CellError(_("“%(value)s” is not a source; use one of %(allowed)s.")
                    % {"value": raw, "allowed": ", ".join(LeadSource.values)})


def country_parse(text: str) -> str:
    """A two-letter code, or a country's name or three-letter code (ISO 3166, via pycountry)."""
    from .values import country_code

    raw = (text or "").strip()
    if not raw:
        return ""
    if re.fullmatch(r"[A-Za-z]{2}", raw):
        return raw.upper()
    code = country_code(raw)
    if not code:
        raise CellError(_("“%(value)s” is not a country; use a two-letter code such as DE or a country's name.")
                        % {"value": raw})
    return code


def website_parse(text: str) -> str:
    raw = (text or "").strip()
    if not raw:
        return ""
    url = raw if re.match(r"^https?://", raw, re.IGNORECASE) else "https://" + raw
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise CellError(_("“%(value)s” is not a website address.") % {"value": raw})
    if len(url) > 200:
        raise CellError(_("The website address is too long."))
    return url


def website_domain(url: str) -> str:
    if not url:
        return ""
    host = urlsplit(url if "://" in url else "https://" + url).hostname or ""
    host = host.casefold()
    return host[4:] if host.startswith("www.") else host


def email_parse(text: str) -> str:
    raw = (text or "").strip()
    if not raw:
        return ""
    try:
        EmailValidator()(raw)
    except ValidationError:
        raise CellError(_("“%(value)s” is not an e-mail address.") % {"value": raw})
    return raw


def emails_parse(text: str) -> list[str]:
    """One or more addresses, separated by semicolons, commas or spaces."""
    return [email_parse(part) for part in re.split(r"[;,\s]+", text or "") if part.strip()]


def phones_parse(text: str) -> list[str]:
    """One or more numbers, separated by semicolons (or commas); each as written."""
    numbers = [" ".join(part.split()) for part in re.split(r"[;,]", text or "") if part.strip()]
    for number in numbers:
        if len(number) > 50:
            raise CellError(_("The phone number “%(value)s” is too long.") % {"value": number[:60]})
    return numbers


def probability_parse(text: str) -> int | None:
    raw = (text or "").strip().rstrip("%").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw.replace(",", "."))
    except ArithmeticError:
        value = None
    if value is None or not (0 <= value <= 100) or value != value.to_integral_value():
        raise CellError(_("“%(value)s” is not a probability between 0 and 100.") % {"value": text.strip()})
    return int(value)


def currency_parse(text: str) -> str:
    raw = (text or "").strip()
    if not raw:
        return ""
    try:
        return pipeline_services.currency_clean(raw)
    except PipelineError as err:
        raise CellError(str(err.message)) from err


def text_parse(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = (text or "").strip()
        if len(value) > max_length:
            raise CellError(_("This text is longer than %(n)s characters.") % {"n": max_length})
        return value
    return parse


PARSERS: dict[str, Callable[[str], object]] = {
    "name": text_parse(200),
    "company": text_parse(200),
    "title": text_parse(200),
    "industry": text_parse(100),
    "company_size": company_size_parse,
    "country": country_parse,
    "website": website_parse,
    "source": source_parse,
    "contact_name": text_parse(200),
    "contact_email": email_parse,
    "contact_phone": text_parse(50),
    "amount": amount_parse,
    "currency": currency_parse,
    "expected_close": date_parse,
    "created_at": date_parse,
    "closed_at": date_parse,
    "next_step": text_parse(200),
    "probability": probability_parse,
    "external_id": text_parse(100),
    "first_name": text_parse(100),
    "last_name": text_parse(100),
    "job_title": text_parse(200),
    "organization": text_parse(200),
    "emails": lambda text, **_styles: emails_parse(text),
    "phones": lambda text, **_styles: phones_parse(text),
}

# What the people kind's company column is called, per kind.
COMPANY_FIELD = {ImportKind.ORGANIZATIONS: "name", ImportKind.DEALS: "company", ImportKind.PEOPLE: "organization"}

ORGANIZATION_FIELDS = ("industry", "company_size", "country", "website", "source")
# An import row's contact columns become the new organisation's main contact (a Person).
CONTACT_COLUMNS = ("contact_name", "contact_email", "contact_phone")


# --- The preview -------------------------------------------------------------------------------


@dataclass
class RowResult:
    line: int  # the line in the file, counting the header as line 1
    cells: list[str]
    values: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    duplicate: str = ""  # why the row duplicates a lead
    organization_id: int | None = None  # deals: the existing lead the deal is added to
    same_as_line: int | None = None  # the earlier row whose new lead this row shares or repeats
    skip: bool = False
    shown: dict = field(default_factory=dict)  # how the preview shows a value, where not as it is

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Preview:
    kind: str
    rows: list[RowResult]
    organizations: dict[int, Organization] = field(default_factory=dict)  # existing leads that deals are added to

    @property
    def error_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.errors]

    @property
    def duplicate_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.duplicate]

    @property
    def importable(self) -> int:
        return sum(1 for r in self.rows if r.ok and not r.skip)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.rows if r.skip)

    @property
    def ok(self) -> bool:
        return not self.error_rows and self.importable > 0


def _name_key(name: str) -> str:
    return " ".join((name or "").casefold().split())


class _People:
    """Owner names in a file → users, checked against who the uploader may assign."""

    def __init__(self, user):
        self.user = user
        self.assignable = list(assignable_users(user))
        self.visible_ids = set(visible_users(user).values_list("pk", flat=True))
        self._index = {}
        self._by_pk = {}
        self._new: dict[str, NewOwner] = {}
        for person in get_user_model().objects.filter(is_active=True).only(
            "pk", "username", "email", "first_name", "last_name"
        ):
            self._by_pk[person.pk] = person
            for key in {person.username, person.email, person.get_full_name()}:
                if key:
                    self._index.setdefault(key.casefold(), person)
        self._assignable_ids = {p.pk for p in self.assignable}

    def resolve(self, text: str, *, what: str, chosen: dict | None = None):
        """The user a row's owner names. `chosen` is the value-mapping step's choice per value:
        "user:<id>", or "create" (an admin's choice: a new inactive user, see NewOwner)."""
        raw = (text or "").strip()
        if not raw:
            return self.user
        choice = (chosen or {}).get(raw, "")
        if choice == "create":
            if not getattr(self.user, "is_admin", False):
                raise CellError(_("Only an admin can create users; choose a user for “%(value)s”.") % {"value": raw})
            return self.new_owner(raw)
        if choice.startswith("user:"):
            person = self._by_pk.get(int(choice.removeprefix("user:")))
        else:
            person = self._index.get(raw.casefold())
        if person is None or (person.pk not in self._assignable_ids and person.pk not in self.visible_ids):
            raise CellError(_("There is no user “%(value)s”; use a username or e-mail address.") % {"value": raw})
        if person.pk not in self._assignable_ids:
            raise CellError(
                _("You cannot give %(what)s to “%(value)s”; only to %(allowed)s.")
                % {"what": what, "value": raw, "allowed": ", ".join(str(p) for p in self.assignable)}
            )
        return person


    def new_owner(self, text: str) -> "NewOwner":
        if text not in self._new:
            if not hasattr(self, "_taken"):
                from .values import taken_usernames

                self._taken = taken_usernames()
            from .values import username_for

            self._new[text] = NewOwner(text=text, username=username_for(text, self._taken))
        return self._new[text]


@dataclass
class NewOwner:
    """An owner the file names who is not a user yet: created, inactive, when the import is
    written (an admin invites them later)."""

    text: str
    username: str

    def __str__(self):
        return self.username


class _Outcome:
    """A deal row's stage, status, close date and lost reason, from the stage and status columns
    and their value mapping: where the deal stands and how it got there."""

    def __init__(self, job: ImportJob, stages: list[Stage]):
        self.job = job
        self.stages = stages
        self.by_pk = {s.pk: s for s in stages}
        self.by_name = {s.name.casefold(): s for s in stages}
        self.first = stages[0] if stages else None
        self.won_stage = next((s for s in stages if s.kind == StageKind.WON), None)
        self.stage_map = job.value_mapping.get("stage", {})
        self.status_map = job.value_mapping.get("status", {})
        self.reason_map = job.value_mapping.get("lost_reason", {})
        self.reasons = {r.name.casefold(): r for r in LostReason.objects.all()}
        self.reasons_by_pk = {r.pk: r for r in self.reasons.values()}
        self.today = timezone.localdate()

    def _stage(self, text: str, row: RowResult):
        """A Stage, "won", "lost", or None (with an error on the row)."""
        if not text:
            if self.first is None:
                row.errors.append(_("This pipeline has no stages yet."))
            return self.first
        choice = self.stage_map.get(text)
        if choice in ("won", "lost"):
            return choice
        if choice and choice.startswith("stage:") and int(choice.removeprefix("stage:")) in self.by_pk:
            return self.by_pk[int(choice.removeprefix("stage:"))]
        if text.casefold() in self.by_name:
            return self.by_name[text.casefold()]
        from .values import status_word

        word = status_word(text)
        if word in ("won", "lost"):
            return word
        row.errors.append(
            _("Stage: “%(value)s” is not a stage of this pipeline (%(stages)s); map it to a stage, to won or to lost.")
            % {"value": text, "stages": ", ".join(s.name for s in self.stages)}
        )
        return None

    def _status(self, text: str, row: RowResult) -> str:
        if not text:
            return ""
        from .values import status_word

        status = self.status_map.get(text) or status_word(text)
        if status not in DealStatus.values:
            row.errors.append(_("Status: “%(value)s” is not open, won or lost.") % {"value": text})
            return ""
        return status

    def resolve(self, row: RowResult) -> None:
        values = row.values
        stage = self._stage(values.get("stage", ""), row)
        status = self._status(values.get("status", ""), row)
        values["stage"] = None
        values["status"] = DealStatus.OPEN
        if stage is None:
            return
        if stage in ("won", "lost"):
            if status and status != stage:
                row.errors.append(_("The stage says %(stage)s but the status says %(status)s.")
                                  % {"stage": DealStatus(stage).label, "status": DealStatus(status).label})
                return
            status, stage = stage, self.first
        elif stage.kind == StageKind.WON:
            if status and status != DealStatus.WON:
                row.errors.append(_("“%(stage)s” is a won stage but the status says %(status)s.")
                                  % {"stage": stage.name, "status": DealStatus(status).label})
                return
            status = DealStatus.WON
        status = status or DealStatus.OPEN
        if status == DealStatus.WON and self.won_stage is None:
            row.errors.append(_("This pipeline has no won stage, so won deals cannot be imported into it."))
            return
        values["stage"], values["status"] = stage, status
        if status == DealStatus.WON and stage.kind != StageKind.WON:
            row.shown["stage"] = f"{stage.name} → {self.won_stage.name}"
        created, closed = values.get("created_at"), values.get("closed_at")
        if status != DealStatus.OPEN and closed is None and "closed_at" not in self.job.mapping:
            # CRMs such as Salesforce write a closed deal's close date in the same column as an open
            # deal's expected close date.
            closed = values.get("expected_close")
        if status == DealStatus.OPEN:
            if closed is not None:
                row.errors.append(_("An open deal has no close date; set its status to won or lost, or clear the date."))
            closed = None
        elif closed is None:
            if status == DealStatus.WON:
                row.errors.append(_("A won deal needs the date it was won; map the column that holds it."))
            else:
                row.errors.append(_("A lost deal needs the date it was lost; map the column that holds it."))
        created = created or closed or self.today
        if created > self.today:
            row.errors.append(_("The created date lies in the future."))
        if closed is not None and closed > self.today:
            row.errors.append(_("The close date lies in the future."))
        if closed is not None and closed < created:
            row.errors.append(_("The close date lies before the created date."))
        values["created_at"], values["closed_at"] = created, closed
        values["lost_reason"] = self._reason(values.get("lost_reason", ""), status, row)

    def _reason(self, text: str, status: str, row: RowResult):
        if status != DealStatus.LOST:
            return None
        if not text:
            row.errors.append(_("A lost deal needs a lost reason; this row has none."))
            return None
        choice = self.reason_map.get(text, "")
        if choice.startswith("reason:") and int(choice.removeprefix("reason:")) in self.reasons_by_pk:
            return self.reasons_by_pk[int(choice.removeprefix("reason:"))]
        if choice == "create" and getattr(self.job.created_by, "is_admin", False):
            return NewReason(text[:100])
        if text.casefold() in self.reasons:
            return self.reasons[text.casefold()]
        row.errors.append(_("Lost reason: “%(value)s” is not a lost reason here (%(reasons)s).")
                          % {"value": text, "reasons": ", ".join(r.name for r in self.reasons.values())})
        return None


@dataclass(frozen=True)
class NewReason:
    name: str

    def __str__(self):
        return self.name


class _ExistingLeads:
    """Leads already in Stageflow, by normalised company name and website domain."""

    def __init__(self, names: set[str], domains: set[str]):
        self.by_name: dict[str, Organization] = {}
        self.by_domain: dict[str, Organization] = {}
        lowered = sorted({" ".join(n.lower().split()) for n in names if n})
        for start in range(0, len(lowered), LOOKUP_CHUNK):
            chunk = lowered[start:start + LOOKUP_CHUNK]
            for organization in Organization.objects.annotate(lname=Lower("name")).filter(lname__in=chunk).only("pk", "name", "website"):
                self.by_name.setdefault(_name_key(organization.name), organization)
        if domains:
            for pk, name, website in Organization.objects.exclude(website="").values_list("pk", "name", "website").iterator(chunk_size=5000):
                domain = website_domain(website)
                if domain in domains:
                    self.by_domain.setdefault(domain, Organization(pk=pk, name=name, website=website))

    def find(self, name_key: str, domain: str) -> tuple[Organization | None, str]:
        if name_key in self.by_name:
            return self.by_name[name_key], "name"
        if domain and domain in self.by_domain:
            return self.by_domain[domain], "website"
        return None, ""


def amount_column_style(texts) -> dict:
    """How a file's amount column writes decimals, read from all its values: a file whose other
    amounts are "1.234,56" writes "7.890" for seven thousand eight hundred and ninety. The keyword
    arguments of amount_parse for every value of the column."""
    shown = {decimal_separator_shown(text) for text in texts} - {None}
    if len(shown) == 1:
        return {"decimal_separator": shown.pop()}
    return {"mixed": len(shown) > 1}


def _column_styles(job: ImportJob) -> dict[str, dict]:
    """The keyword arguments of each column's parser: the formats the uploader confirmed in the
    value-mapping step, or (without them) what the column's own values show."""
    styles: dict[str, dict] = {}
    order = (job.formats or {}).get("date_order")
    if order:
        styles.update({name: {"order": order} for name in ("created_at", "expected_close", "closed_at")})
    index = job.mapping.get("amount")
    if index is not None:
        style = amount_column_style(cells[index] for cells in job.rows if index < len(cells))
        separator = (job.formats or {}).get("decimal_separator")
        if separator:
            # The confirmed separator decides; a column that writes decimals both ways still has its
            # values that read two ways ("7.890") shown as problems.
            style = {"decimal_separator": separator, "mixed": bool(style.get("mixed")), "confirmed": True}
        styles["amount"] = style
    from pipeline.models import FieldType

    for target in targets(job.kind):  # custom fields: numbers as their column writes them, dates as confirmed
        index = job.mapping.get(target.name)
        if target.definition is None or index is None:
            continue
        if target.definition.field_type in (FieldType.NUMBER, FieldType.MONEY):
            style = amount_column_style(cells[index] for cells in job.rows if index < len(cells))
            separator = (job.formats or {}).get("decimal_separator")
            styles[target.name] = {"decimal_separator": separator, "confirmed": True} if separator else style
        elif target.definition.field_type == FieldType.DATE and order:
            styles[target.name] = {"order": order}
    return styles


def _clean_row(job: ImportJob, cells: list[str], line: int, styles: dict[str, dict] | None = None) -> RowResult:
    result = RowResult(line=line, cells=cells)
    styles = styles or {}
    for target in targets(job.kind):
        index = job.mapping.get(target.name)
        text = unneutralise(cells[index] if index is not None and index < len(cells) else "")
        if target.definition is not None:
            if index is None:
                continue
            try:
                value = custom_cell_parse(target.definition, text, styles.get(target.name, {}))
            except CellError as err:
                result.errors.append(f"{target.label}: {err}")
                continue
            if value is not None:
                result.values.setdefault("custom", {})[target.definition.key] = value
            continue
        if target.name in ("owner", "stage", "status", "lost_reason"):
            result.values[target.name] = text.strip()
            continue
        if target.name == "country" and text.strip() and text.strip() in job.value_mapping.get("country", {}):
            chosen = job.value_mapping["country"][text.strip()]
            result.values["country"] = "" if chosen == "none" else chosen
            continue
        try:
            value = PARSERS[target.name](text, **styles.get(target.name, {}))
        except CellError as err:
            result.errors.append(f"{target.label}: {err}")
            continue
        if target.required and not value:
            result.errors.append(_("%(field)s is missing.") % {"field": target.label})
        result.values[target.name] = value
    return result


def import_preview(job: ImportJob, *, user=None) -> Preview:
    """Check every row without writing anything: values, owners, stages, entry rules, duplicates."""
    user = user or job.created_by
    styles = _column_styles(job)
    rows = [_clean_row(job, cells, line, styles) for line, cells in enumerate(job.rows, start=2)]
    company_field = COMPANY_FIELD[job.kind]
    names = {r.values.get(company_field, "") for r in rows}
    domains = {website_domain(r.values.get("website", "")) for r in rows} - {""}
    existing = _ExistingLeads(names, domains)
    people = _People(user)
    visible_organization_ids: set[int] = set()
    found = {organization.pk for organization in [*existing.by_name.values(), *existing.by_domain.values()]}
    found_organizations: dict[int, Organization] = {}
    if found:
        # A lead the importer may not see is never named to them: saying that one exists is all.
        visible_organization_ids = set(visible_organizations(user).filter(pk__in=found).values_list("pk", flat=True))
        if job.kind in (ImportKind.DEALS, ImportKind.PEOPLE):
            found_organizations = Organization.objects.in_bulk(visible_organization_ids)
    known_emails = _known_emails(rows) if job.kind == ImportKind.PEOPLE else set()
    seen_emails: dict[str, int] = {}

    if job.kind == ImportKind.DEALS:
        pipeline = job.pipeline or Pipeline.objects.filter(is_default=True).first()
        outcome = _Outcome(job, list(pipeline.stages.order_by("position", "pk")) if pipeline else [])
    rules_cache: dict[int, object] = {}
    # The leads the rows would create, scored in one go: the fit score is an entry rule.
    new_organizations: dict[int, Organization] = {}
    if job.kind == ImportKind.DEALS:
        new_organizations = {row.line: _new_organization(row.values, name=row.values.get("company", ""), owner=None) for row in rows}
        organization_services.organizations_score(list(new_organizations.values()))

    seen_names: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    imported_before: set[str] = set()
    seen_ids: dict[str, int] = {}
    if job.kind == ImportKind.DEALS and pipeline is not None:
        ids = {r.values.get("external_id") for r in rows} - {None, ""}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = sorted(ids)[start:start + LOOKUP_CHUNK]
            imported_before |= set(pipeline.deals.filter(external_id__in=chunk).values_list("external_id", flat=True))
    for row in rows:
        values = row.values
        what = {ImportKind.ORGANIZATIONS: _("leads"), ImportKind.DEALS: _("deals"), ImportKind.PEOPLE: _("people")}[job.kind]
        try:
            values["owner"] = people.resolve(values.get("owner", ""), what=what, chosen=job.value_mapping.get("owner"))
        except CellError as err:
            row.errors.append(f"{_('Owner')}: {err}")
        # Deals: a deal the previous CRM's ID says was imported before is not created twice.
        external_id = values.get("external_id") or ""
        if external_id in seen_ids:
            row.errors.append(_("The ID “%(id)s” appears twice in this file (first on line %(line)s).")
                              % {"id": external_id, "line": seen_ids[external_id]})
        elif external_id:
            seen_ids[external_id] = row.line
        if external_id in imported_before:
            row.duplicate = _("Imported before (ID “%(id)s”): skipped, so that the deal is not there twice.") % {
                "id": external_id}
            row.skip = not row.errors
            continue
        name_key = _name_key(values.get(company_field, ""))
        domain = website_domain(values.get("website", ""))
        organization, reason = existing.find(name_key, domain)
        earlier = seen_names.get(name_key) if name_key else None
        if earlier is None and domain:
            earlier = seen_domains.get(domain)
        if organization is not None:
            how = _("same company name") if reason == "name" else _("same website domain")
            if organization.pk in visible_organization_ids:
                row.duplicate = _("Already in Stageflow as “%(name)s” (%(how)s).") % {"name": organization.name, "how": how}
            else:
                row.duplicate = _("Already in Stageflow as a lead you cannot see (%(how)s).") % {"how": how}
        elif earlier is not None:
            row.duplicate = _("Same company as line %(line)s of this file.") % {"line": earlier}
            row.same_as_line = earlier
        if name_key and name_key not in seen_names:
            seen_names[name_key] = row.line
        if domain and domain not in seen_domains:
            seen_domains[domain] = row.line

        if job.kind == ImportKind.ORGANIZATIONS:
            row.skip = bool(row.duplicate) and not row.errors
            continue
        if job.kind == ImportKind.PEOPLE:
            _person_row_check(row, organization, visible_organization_ids, known_emails, seen_emails)
            continue

        # A deal for a company that exists is added to that lead.
        if organization is not None:
            if organization.pk not in visible_organization_ids:
                row.errors.append(
                    _("This company already exists as a lead you cannot see; ask your manager.")
                )
            row.organization_id = organization.pk
        outcome.resolve(row)
        stage = values.get("stage")
        if row.errors or stage is None:
            continue
        if values["status"] != DealStatus.OPEN:
            continue  # a closed deal is history: the entry rules of its stage applied in the other CRM
        if stage.pk not in rules_cache:
            try:
                rules_cache[stage.pk] = pipeline_services.entry_rules(from_stage=None, to_stage=stage)
            except PipelineError as refusal:
                rules_cache[stage.pk] = refusal
        rules = rules_cache[stage.pk]
        if isinstance(rules, PipelineError):
            row.errors.append(str(rules.message))
            continue
        organization_for_rules = found_organizations[row.organization_id] if row.organization_id is not None else new_organizations[row.line]
        state = pipeline_services.DealState(
            amount=values.get("amount"), expected_close=values.get("expected_close"), organization=organization_for_rules,
            next_step=values.get("next_step", ""), custom=values.get("custom", {}),
        )
        try:
            pipeline_services.deal_entry_check(state, None, stage, rules=rules)
        except PipelineError as refusal:
            row.errors.append(str(refusal.message))
    return Preview(kind=job.kind, rows=rows, organizations=found_organizations)


def _known_emails(rows: list[RowResult]) -> set[str]:
    """The rows' e-mail addresses that someone in Stageflow already has (lower case)."""
    addresses = sorted({a.casefold() for r in rows for a in r.values.get("emails") or []})
    known: set[str] = set()
    for start in range(0, len(addresses), LOOKUP_CHUNK):
        chunk = addresses[start:start + LOOKUP_CHUNK]
        known |= set(PersonEmail.objects.annotate(laddress=Lower("address")).filter(laddress__in=chunk)
                     .values_list("laddress", flat=True))
    return known


def _person_row_check(row: RowResult, organization, visible_organization_ids: set[int], known_emails: set[str],
                      seen_emails: dict[str, int]) -> None:
    """A row of the people kind: its name, its organisation (an existing one it joins, or a new one
    the first row naming it creates), and whether the person is already here (by e-mail address)."""
    values = row.values
    if not values.get("name"):
        values["name"] = " ".join(filter(None, [values.get("first_name"), values.get("last_name")]))
    if not values["name"]:
        row.errors.append(_("The person's name is missing."))
    row.duplicate, row.same_as_line = "", None  # the organisation's match is not the person's
    for many in ("emails", "phones"):
        if values.get(many):
            row.shown[many] = "; ".join(values[many])
    if organization is not None:
        if organization.pk not in visible_organization_ids:
            row.errors.append(_("This company already exists as a lead you cannot see; ask your manager."))
        row.organization_id = organization.pk
    emails = [a.casefold() for a in values.get("emails") or []]
    known = next((a for a in emails if a in known_emails), None)
    repeated = next((seen_emails[a] for a in emails if a in seen_emails), None)
    if known:
        row.duplicate = _("A person with the e-mail address %(email)s is already in Stageflow.") % {"email": known}
    elif repeated is not None:
        row.duplicate = _("Same person as line %(line)s of this file (same e-mail address).") % {"line": repeated}
    row.skip = bool(row.duplicate) and not row.errors
    for address in emails:
        seen_emails.setdefault(address, row.line)


# --- The commit --------------------------------------------------------------------------------


class ImportInvalid(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} rows with errors")
        self.errors = errors


def preview_errors(preview: Preview) -> list[dict]:
    return [{"line": r.line, "errors": r.errors, "cells": r.cells} for r in preview.error_rows]


def _progress(job: ImportJob, done: int) -> None:
    cache.set(job.progress_key, done, timeout=60 * 60)


def import_commit(job: ImportJob, *, progress: Callable[[int], None] | None = None) -> ImportJob:
    """Write every row in one transaction, or nothing. Marks the job done or failed."""
    user = job.created_by
    progress = progress or (lambda done: _progress(job, done))
    job.status = ImportStatus.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["status", "started_at"])
    progress(0)
    try:
        with transaction.atomic():
            preview = import_preview(job, user=user)
            invalid = preview_errors(preview)
            if invalid and not job.skip_invalid:
                raise ImportInvalid(invalid)
            if invalid:
                preview.rows = _without_invalid(preview.rows)
            job.created_users = _owners_create(preview.rows, actor=user)
            created_organizations, created_deals = _write(job, preview, user=user, progress=progress)
    except ImportInvalid as err:
        _finish(job, ImportStatus.FAILED, errors=err.errors,
                message=_("Nothing was imported: %(n)s rows have errors.") % {"n": len(err.errors)})
        return job
    except Exception:
        _finish(job, ImportStatus.FAILED, message=_("Nothing was imported: the import stopped with an unexpected error."))
        raise
    job.created_organizations, job.created_deals = created_organizations, created_deals
    job.skipped_rows = preview.skipped + len(invalid)
    message = ""
    if invalid:
        message = _("%(n)s rows with errors were skipped.") % {"n": len(invalid)}
    _finish(job, ImportStatus.DONE, errors=invalid, message=message)
    return job


def _without_invalid(rows: list[RowResult]) -> list[RowResult]:
    """The valid rows. A row that shares its new company with a skipped earlier row creates that
    company itself."""
    kept = [r for r in rows if not r.errors]
    kept_lines = {r.line for r in kept}
    standing_in: dict[int, int] = {}  # a skipped row's line → the first kept row that shared its company
    for row in kept:
        if row.same_as_line is not None and row.same_as_line not in kept_lines:
            skipped = row.same_as_line
            if skipped in standing_in:
                row.same_as_line = standing_in[skipped]
            else:
                standing_in[skipped] = row.line
                row.same_as_line = None
    return kept


def _finish(job: ImportJob, status: str, *, errors=None, message: str) -> None:
    job.status = status
    job.errors = errors or []
    job.message = message
    job.finished_at = timezone.now()
    if status != ImportStatus.DONE:  # the transaction rolled back: nothing of it exists
        job.created_records, job.created_users = {}, []
    job.processed_rows = job.total_rows if status == ImportStatus.DONE else 0
    job.rows = []  # the file's cells are not needed any more; keep no more personal data than needed
    job.save(update_fields=["status", "errors", "message", "finished_at", "processed_rows", "created_organizations",
                            "created_deals", "skipped_rows", "rows", "created_users", "created_records"])
    cache.delete(job.progress_key)


def _new_organization(values: dict, *, name: str, owner, custom: dict | None = None) -> Organization:
    """The unsaved organisation a row creates."""
    return Organization(
        name=name, owner=owner, custom=custom or {},
        **{f: values.get(f) or ("other" if f == "source" else "") for f in ORGANIZATION_FIELDS},
    )


def _new_contact(values: dict) -> dict:
    """The main contact a row names: {name, email, phone}, empty values where the row has none."""
    return {column.removeprefix("contact_"): values.get(column) or "" for column in CONTACT_COLUMNS}


def _write_people(job: ImportJob, preview: Preview, *, user, progress) -> tuple[int, int]:
    """People with their addresses; each organisation a row names and Stageflow does not have yet
    is created once, however many rows name it."""
    rows = [row for row in preview.rows if not row.skip]
    new_organizations: dict[str, Organization] = {}
    for row in rows:
        name = row.values.get("organization") or ""
        if name and row.organization_id is None and _name_key(name) not in new_organizations:
            new_organizations[_name_key(name)] = Organization(name=name, owner=row.values["owner"], source="other")
    organization_services.organizations_bulk_import(
        organizations=list(new_organizations.values()), actor=user, batch_size=LEAD_BATCH,
    )
    progress(len(preview.rows) // 3)
    person_rows = []
    for row in rows:
        values = row.values
        if row.organization_id is not None:
            organization = preview.organizations[row.organization_id]
        else:
            organization = new_organizations.get(_name_key(values.get("organization") or ""))
        person_rows.append(people_services.PersonRow(
            person=Person(name=values["name"][:200], organization=organization, owner=values["owner"],
                          job_title=values.get("job_title") or "", custom=values.get("custom") or {}),
            emails=list(values.get("emails") or []), phones=list(values.get("phones") or []),
        ))
    created = people_services.people_bulk_import(rows=person_rows, actor=user, batch_size=LEAD_BATCH)
    job.created_records = {
        "organizations": [o.pk for o in new_organizations.values()], "people": [p.pk for p in created],
        "deals": [], "lost_reasons": [],
    }
    progress(len(preview.rows))
    return len(new_organizations), 0


def _write(job: ImportJob, preview: Preview, *, user, progress) -> tuple[int, int]:
    if job.kind == ImportKind.PEOPLE:
        return _write_people(job, preview, user=user, progress=progress)
    rows = preview.rows
    company = "name" if job.kind == ImportKind.ORGANIZATIONS else "company"
    new_organizations = {
        row.line: _new_organization(
            row.values, name=row.values[company], owner=row.values["owner"],
            custom=row.values.get("custom") if job.kind == ImportKind.ORGANIZATIONS else None,
        )
        for row in rows
        if not row.skip and row.organization_id is None and row.same_as_line is None
    }
    pending = list(new_organizations.values())
    contacts = [
        _new_contact(row.values) for row in rows
        if not row.skip and row.organization_id is None and row.same_as_line is None
    ]
    for start in range(0, len(pending), LEAD_BATCH):
        organization_services.organizations_bulk_import(
            organizations=pending[start:start + LEAD_BATCH], contacts=contacts[start:start + LEAD_BATCH], actor=user,
            batch_size=LEAD_BATCH,
        )
        if job.kind == ImportKind.ORGANIZATIONS:
            progress(round(len(rows) * min(1, (start + LEAD_BATCH) / len(pending))))
    organization_ids = [organization.pk for organization in pending]
    job.created_records = {
        "organizations": organization_ids,
        "people": list(Person.objects.filter(organization_id__in=organization_ids).values_list("pk", flat=True)),
        "deals": [],
        "lost_reasons": [],
    }
    if job.kind == ImportKind.ORGANIZATIONS:
        progress(len(rows))
        return len(pending), 0

    organizations_by_line: dict[int, Organization] = {}
    histories = []
    pipeline = job.pipeline or Pipeline.objects.filter(is_default=True).first()
    ordered = list(pipeline.stages.order_by("position", "pk"))
    won_stage = next((s for s in ordered if s.kind == StageKind.WON), None)
    reasons: dict[str, LostReason] = {}
    for row in rows:
        if row.skip:
            continue
        values = row.values
        if row.organization_id is not None:
            organization = preview.organizations[row.organization_id]
        elif row.same_as_line is not None:
            organization = organizations_by_line[row.same_as_line]
        else:
            organization = new_organizations[row.line]
        organizations_by_line[row.line] = organization
        histories.append(_deal_history(values, organization=organization, first_stage=ordered[0], won_stage=won_stage,
                                       reasons=reasons, user=user))
    progress(len(rows) // 2)
    written = history_importing.deals_with_history_write(histories, pipeline=pipeline, actor=user, actor_label="")
    job.created_records["deals"] = [deal.pk for deal in written.deals]
    job.created_records["lost_reasons"] = sorted(reason.pk for reason in reasons.values())
    progress(len(rows))
    return len(pending), len(written.deals)


def _moment(day: date) -> datetime:
    """A day of the file as the start of that day here."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _deal_history(values: dict, *, organization, first_stage, won_stage, reasons: dict, user) -> history_importing.DealHistory:
    """A checked deal row as the history writer takes it: created in its stage on the created
    date; a won deal moves to the won stage on its close date (a row that names the won stage
    itself starts in the first stage, as import_history does); a lost deal is lost from its stage."""
    stage, status = values["stage"], values["status"]
    created_at = _moment(values["created_at"])
    closed_at = _moment(values["closed_at"]) if values.get("closed_at") else None
    path = [(created_at, stage)]
    if status == DealStatus.WON and stage.kind != StageKind.WON:
        path.append((closed_at, won_stage))
    elif status == DealStatus.WON:
        path = [(closed_at, stage)] if closed_at == created_at else [(created_at, first_stage), (closed_at, stage)]
    reason = values.get("lost_reason")
    if isinstance(reason, NewReason):
        if reason.name.casefold() not in reasons:
            reasons[reason.name.casefold()] = configuration.lost_reason_create(
                actor=user, name=reason.name, position=LostReason.objects.count()
            )
        reason = reasons[reason.name.casefold()]
    return history_importing.DealHistory(
        organization_id=organization.pk, owner_id=values["owner"].pk, title=values["title"], status=status,
        created_at=created_at, path=path, amount=values.get("amount"), currency=values.get("currency") or "",
        expected_close=values.get("expected_close"), closed_at=closed_at,
        lost_reason_id=reason.pk if reason is not None else None, next_step=values.get("next_step", ""),
        probability=values.get("probability"), external_id=values.get("external_id") or "",
        custom=values.get("custom", {}),
    )


def _owners_create(rows: list[RowResult], *, actor) -> list[str]:
    """Create the inactive users the rows' new owners stand for, and put them in the rows."""
    created: dict[str, object] = {}
    for row in rows:
        owner = row.values.get("owner")
        if isinstance(owner, NewOwner):
            if owner.username not in created:
                created[owner.username] = history_importing.inactive_owner_create(
                    username=owner.username, text=owner.text, actor=actor,
                )
            row.values["owner"] = created[owner.username]
    return sorted(created)


def job_create(*, user, kind: str, parsed: ParsedFile, filename: str, pipeline: Pipeline | None = None) -> ImportJob:
    """A new upload; its column mapping is the one last confirmed for this layout, or a guess."""
    from .values import layout_hash

    layout = ImportLayout.objects.filter(kind=kind, headers_hash=layout_hash(kind, parsed.headers)).first()
    mapping = mapping_guess(kind, parsed.headers)
    if layout is not None and all(
        name in {t.name for t in targets(kind)} and 0 <= index < len(parsed.headers) for name, index in layout.mapping.items()
    ):
        mapping = layout.mapping
    return ImportJob.objects.create(
        created_by=user,
        kind=kind,
        pipeline=pipeline,
        filename=filename[:255],
        file_format=parsed.file_format,
        encoding=parsed.encoding,
        headers=parsed.headers,
        rows=parsed.rows,
        mapping=mapping,
        total_rows=len(parsed.rows),
    )


def job_values_set(job: ImportJob, *, value_mapping: dict, formats: dict) -> ImportJob:
    """Store the value mapping and formats the uploader confirmed, and remember them (with the
    column mapping) for the next file of the same layout."""
    from .values import layout_remember

    job.value_mapping, job.formats = value_mapping, formats
    job.save(update_fields=["value_mapping", "formats"])
    layout_remember(job)
    return job


def problem_rows(job: ImportJob, *, user) -> list[list[str]]:
    """A header and one row per problem row: line, messages, then the row's cells as in the file.
    Before the import, every row the preview finds wrong; after it, the rows it refused or skipped."""
    header = [_("Line"), _("Problems"), *job.headers]
    if job.status == ImportStatus.UPLOADED:
        found = [{"line": r.line, "errors": r.errors, "cells": r.cells} for r in import_preview(job, user=user).error_rows]
    else:
        found = job.errors
    return [header] + [[str(r["line"]), " | ".join(r["errors"]), *r.get("cells", [])] for r in found]


def import_start(job: ImportJob) -> bool:
    """Run the import now (small files) or queue it for a worker; True when it was queued."""
    if job.total_rows <= import_settings()["background_rows"]:
        import_commit(job)
        return False
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    transaction.on_commit(lambda: _enqueue(job.pk))
    return True


def _enqueue(job_id: int) -> None:
    """Hand the job to a worker; in laptop mode (no broker) to the server's background thread,
    so that the request that started it answers at once and the page shows the progress."""
    from .tasks import import_run

    try:
        if current_app.conf.task_always_eager:
            background.submit(import_run, job_id)
        else:
            import_run.delay(job_id)
    except Exception:
        logger.exception("Could not start import %s", job_id)
        ImportJob.objects.filter(pk=job_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED, finished_at=timezone.now(),
            message=_("Nothing was imported: the import could not be started. Please try again in a few minutes."),
        )


UNFINISHED_DAYS = 7


def imports_prune(*, now=None) -> int:
    """Delete uploads that were never imported after a week; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=UNFINISHED_DAYS)
    deleted, _rows = ImportJob.objects.filter(status=ImportStatus.UPLOADED, created_at__lt=cutoff).delete()
    return deleted
