"""The value-mapping step: what the values of a file mean in Stageflow, proposed and confirmed.

Between the column mapping and the preview the uploader sees each distinct value of the stage,
status, owner, country and lost-reason columns beside a proposal (a stage of the pipeline or won or
lost; a user, or a new inactive user; an ISO country code; a lost reason), and the file's date
order and decimal separator with the evidence for them. What they confirm is stored on the
ImportJob (`value_mapping`, `formats`) and remembered for the next file of the same layout
(ImportLayout, keyed by a fingerprint of the kind and header row).
"""
from __future__ import annotations

import gettext
import hashlib
import json
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

import pycountry
from django.utils.translation import gettext as _, gettext_lazy

from forecasting.importing import taken_usernames, username_for  # noqa: F401  (the owners' new usernames)
from localization.formatting import decimal_separator_shown
from pipeline.models import LostReason, Stage, StageKind
from pipeline.selectors import assignable_users

from .models import ImportJob, ImportLayout

VALUE_FIELDS = ("stage", "status", "owner", "country", "lost_reason")
DATE_FIELDS = ("created_at", "expected_close", "closed_at")
# The distinct values one column may have for the step to list them all (stage names, owners and
# countries of a real export are a few dozen).
MAX_DISTINCT = 300

WON, LOST, OPEN = "won", "lost", "open"
CREATE = "create"
NONE = "none"

DATE_ORDERS = {
    "dmy": gettext_lazy("day/month/year (13/02/2025)"),
    "mdy": gettext_lazy("month/day/year (02/13/2025)"),
    "ymd": gettext_lazy("year-month-day (2025-02-13)"),
}
DECIMAL_SEPARATORS = {
    ".": gettext_lazy("point (1,234.56)"),
    ",": gettext_lazy("comma (1.234,56)"),
}

STATUS_WORDS = {
    OPEN: {"open", "offen", "active", "aktiv", "in progress", "pending"},
    WON: {"won", "closed won", "closedwon", "gewonnen", "win", "success", "erfolgreich", "closed - won"},
    LOST: {"lost", "closed lost", "closedlost", "verloren", "loss", "closed - lost", "abgesagt"},
}


def _key(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", (text or "").casefold()).split())


def layout_hash(kind: str, headers: list[str]) -> str:
    normal = [_key(h) for h in headers]
    return hashlib.sha256(json.dumps([kind, normal]).encode()).hexdigest()


def layout_for(job: ImportJob) -> ImportLayout | None:
    return ImportLayout.objects.filter(kind=job.kind, headers_hash=layout_hash(job.kind, job.headers)).first()


def layout_remember(job: ImportJob) -> None:
    ImportLayout.objects.update_or_create(
        kind=job.kind, headers_hash=layout_hash(job.kind, job.headers),
        defaults={"headers": job.headers, "mapping": job.mapping, "value_mapping": job.value_mapping,
                  "formats": job.formats},
    )


def distinct_values(job: ImportJob, name: str) -> list[str]:
    """The values of a mapped column, as written, in order of first appearance."""
    index = job.mapping.get(name)
    if index is None:
        return []
    seen: dict[str, None] = {}
    for cells in job.rows:
        value = cells[index].strip() if index < len(cells) else ""
        if value and value not in seen:
            seen[value] = None
            if len(seen) > MAX_DISTINCT:
                break
    return list(seen)


def _similarity(a: str, b: str) -> float:
    a, b = _key(a), _key(b)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if a in b or b in a:
        return 0.85
    if len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5]:
        return 0.8  # "qualify" and "qualification"
    return SequenceMatcher(None, a, b).ratio()


def status_word(text: str) -> str:
    key = _key(text)
    for status, words in STATUS_WORDS.items():
        if key in {_key(w) for w in words}:
            return status
    return ""


# --- Stages ---------------------------------------------------------------------------------------


def stage_options(stages: list[Stage]) -> list[tuple[str, str]]:
    return [(f"stage:{s.pk}", s.name) for s in stages] + [(WON, _("Won")), (LOST, _("Lost"))]


def stage_propose(text: str, stages: list[Stage]) -> str:
    word = status_word(text)
    if word in (WON, LOST):
        return word
    best, score = None, 0.0
    for stage in stages:
        s = _similarity(text, stage.name)
        if s > score:
            best, score = stage, s
    if best is not None and score >= 0.75:
        return f"stage:{best.pk}"
    return f"stage:{stages[0].pk}" if stages else ""


# --- Owners ---------------------------------------------------------------------------------------


def owner_options(user) -> list[tuple[str, str]]:
    options = [(f"user:{u.pk}", f"{u} ({u.username})") for u in assignable_users(user).order_by("username")]
    if getattr(user, "is_admin", False):
        options.append((CREATE, _("Create as an inactive user, to be invited by an admin")))
    return options


def owner_propose(text: str, users, *, can_create: bool) -> str:
    key = (text or "").strip().casefold()
    for u in users:
        if key in {u.username.casefold(), (u.email or "").casefold(), u.get_full_name().casefold()} - {""}:
            return f"user:{u.pk}"
    best, score = None, 0.0
    for u in users:
        s = max(_similarity(text, u.get_full_name()), _similarity(text, u.username))
        if s > score:
            best, score = u, s
    if best is not None and score >= 0.8:
        return f"user:{best.pk}"
    return CREATE if can_create else ""


# --- Countries ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Every name and code of every country (pycountry's ISO 3166 data, with the German names of
    its translations) → the two-letter code."""
    german = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["de"], fallback=True)
    table: dict[str, str] = {}
    for country in pycountry.countries:
        names = {country.alpha_2, country.alpha_3, country.name, getattr(country, "official_name", ""),
                 getattr(country, "common_name", "")}
        names |= {german.gettext(n) for n in list(names) if n}
        for name in names - {""}:
            table.setdefault(_key(name), country.alpha_2)
    # Names the standard does not use but exports do.
    for name, code in (("usa", "US"), ("us", "US"), ("uk", "GB"), ("england", "GB"), ("great britain", "GB"),
                       ("holland", "NL"), ("south korea", "KR"), ("russia", "RU")):
        table.setdefault(name, code)
    return table


def country_options() -> list[tuple[str, str]]:
    return [(c.alpha_2, f"{c.alpha_2} – {getattr(c, 'common_name', c.name)}")
            for c in sorted(pycountry.countries, key=lambda c: c.alpha_2)]


def country_code(text: str) -> str:
    """The ISO code of a country's name or code, or "" when it is not one."""
    return _country_names().get(_key(text), "")


def country_propose(text: str) -> str:
    code = country_code(text)
    if code:
        return code
    try:
        found = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return NONE
    return found[0].alpha_2 if found else NONE


# --- Lost reasons ---------------------------------------------------------------------------------


def lost_reason_options(user) -> list[tuple[str, str]]:
    options = [(f"reason:{r.pk}", r.name) for r in LostReason.objects.order_by("position", "pk")]
    if getattr(user, "is_admin", False):
        options.append((CREATE, _("Create this reason")))
    return options


def lost_reason_propose(text: str, reasons, *, can_create: bool) -> str:
    best, score = None, 0.0
    for reason in reasons:
        s = _similarity(text, reason.name)
        if s > score:
            best, score = reason, s
    if best is not None and score >= 0.75:
        return f"reason:{best.pk}"
    return CREATE if can_create else ""


# --- Formats --------------------------------------------------------------------------------------

DATE_PARTS = re.compile(r"^\s*(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})(?:[ T].*)?$")


@dataclass
class FormatGuess:
    choice: str = ""  # the one the evidence supports, "" when it supports none or several
    evidence: dict[str, str] = field(default_factory=dict)  # choice → an example value that proves it
    ambiguous: int = 0  # values that read more than one way

    @property
    def conflict(self) -> bool:
        return len(self.evidence) > 1


def date_orders_possible(text: str) -> set[str]:
    """The date orders under which a value is a real date."""
    match = DATE_PARTS.match(text or "")
    if not match:
        return set()
    a, b, c = match.groups()
    if len(a) == 4:
        return {"ymd"} if 1 <= int(b) <= 12 and 1 <= int(c) <= 31 else set()
    if len(c) not in (2, 4):
        return set()
    orders = set()
    if 1 <= int(a) <= 31 and 1 <= int(b) <= 12:
        orders.add("dmy")
    if 1 <= int(a) <= 12 and 1 <= int(b) <= 31:
        orders.add("mdy")
    return orders


def date_order_detect(values) -> FormatGuess:
    guess = FormatGuess()
    for text in values:
        orders = date_orders_possible(text)
        if len(orders) == 1:
            guess.evidence.setdefault(next(iter(orders)), text)
        elif len(orders) > 1:
            guess.ambiguous += 1
    if len(guess.evidence) == 1:
        guess.choice = next(iter(guess.evidence))
    elif not guess.evidence and guess.ambiguous == 0:
        guess.choice = "ymd"
    return guess


def decimal_separator_detect(values) -> FormatGuess:
    guess = FormatGuess()
    for text in values:
        shown = decimal_separator_shown(text)
        if shown:
            guess.evidence.setdefault(shown, text)
        elif re.search(r"\d[.,]\d{3}$", text or ""):
            guess.ambiguous += 1
    if len(guess.evidence) == 1:
        guess.choice = next(iter(guess.evidence))
    elif not guess.evidence and not guess.ambiguous:
        guess.choice = "."  # whole numbers only: either reading gives the same amounts
    return guess


def _column_values(job: ImportJob, names) -> list[str]:
    values = []
    for name in names:
        index = job.mapping.get(name)
        if index is None:
            continue
        values.extend(cells[index] for cells in job.rows if index < len(cells) and cells[index].strip())
    return values


def formats_detect(job: ImportJob) -> dict[str, FormatGuess]:
    """The date order and decimal separator the file's mapped columns show, with evidence."""
    guesses = {}
    dates = _column_values(job, DATE_FIELDS)
    if dates:
        guesses["date_order"] = date_order_detect(dates)
    amounts = _column_values(job, ("amount",))
    if amounts:
        guesses["decimal_separator"] = decimal_separator_detect(amounts)
    return guesses


def evidence_text(name: str, guess: FormatGuess) -> list[str]:
    """Sentences for the page: "13/02/2025 can only be day/month/year"."""
    labels = DATE_ORDERS if name == "date_order" else DECIMAL_SEPARATORS
    lines = [
        _("“%(value)s” can only be %(format)s.") % {"value": value, "format": labels[choice]}
        for choice, value in guess.evidence.items()
    ]
    if guess.conflict:
        lines.append(_("The file writes values both ways: rows that do not fit the format you confirm are shown as problems."))
    if guess.ambiguous:
        lines.append(
            _("%(n)s values read more than one way; they are read with the format you confirm.") % {"n": guess.ambiguous}
        )
    return lines
