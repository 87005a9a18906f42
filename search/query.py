"""What a search box's text means: the words to find in names, and, where the text could be one,
an e-mail address, a phone number (by its digits) or a web domain. Also the trigram similarity of
PostgreSQL's pg_trgm, for ranking where the database cannot compute it (SQLite)."""
import re
import unicodedata
from dataclasses import dataclass

from pipeline.models import domain_normalize, phone_digits

MIN_LENGTH = 2  # one letter matches half the address book: the box waits for a second one
MAX_LENGTH = 100  # longer text is cut: no name, address or number is longer
MIN_PHONE_DIGITS = 3
# Characters a typed phone number consists of besides digits: "+49 (30) 1234-5", "030/1234.5".
_PHONE_TEXT = re.compile(r"^[\d\s+()./-]+$")


@dataclass(frozen=True)
class SearchQuery:
    text: str  # trimmed, whitespace collapsed, control characters removed, at most MAX_LENGTH
    words: tuple[str, ...]
    email: str  # the text in lower case when it could be (part of) an e-mail address, else ""
    domain: str  # the web domain it could name ("https://www.acme.com/x", "anna@acme.com" → "acme.com"), else ""
    digits: str  # the digits of a phone number as typed, when the text is one, else ""
    # The number without its country code or trunk prefix, as it ends every way of storing it:
    # "+49 (0)30 1234567", "0049 30 1234567" and "030 1234567" → "301234567"; else "".
    national: str

    @property
    def phone_variants(self) -> tuple[str, ...]:
        return tuple(v for v in (self.digits, self.national) if v)

    @property
    def may_be_a_name(self) -> bool:
        """An e-mail address or a phone number is not a name with a typo in it."""
        return "@" not in self.text and not self.digits

    @property
    def is_usable(self) -> bool:
        return len(self.text) >= MIN_LENGTH


def clean_text(raw: str | None) -> str:
    """The text as it is searched for: control characters (a NUL that PostgreSQL refuses, tabs,
    line breaks) become spaces, runs of spaces one, and anything past MAX_LENGTH is cut."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in (raw or ""))
    return " ".join(text.split())[:MAX_LENGTH].strip()


def parse(raw: str | None) -> SearchQuery:
    text = clean_text(raw)
    has_space = " " in text
    email = "" if has_space else text.lower()
    domain = "" if has_space else domain_normalize(text)
    digits = national = ""
    if _PHONE_TEXT.match(text) and len(phone_digits(text)) >= MIN_PHONE_DIGITS:
        digits = phone_digits(text)
        national = _national(text, digits)
        if len(national) < MIN_PHONE_DIGITS or national == digits:
            national = ""
    return SearchQuery(
        text=text, words=tuple(text.split()), email=email, domain=domain, digits=digits, national=national,
    )


# E.164 country codes are prefix-free: +1 and +7, these two-digit ones, and three digits for the rest.
_TWO_DIGIT_COUNTRY_CODES = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 "
    "90 91 92 93 94 95 98".split()
)


def _national(text: str, digits: str) -> str:
    """The digits after the country code ("+49", "0049") or the trunk prefix ("0"), without a
    trunk prefix written after the country code ("+49 (0)30")."""
    if text.startswith("+") or digits.startswith("00"):
        number = digits[2:] if digits.startswith("00") else digits
        code = 1 if number[:1] in ("1", "7") else 2 if number[:2] in _TWO_DIGIT_COUNTRY_CODES else 3
        return number[code:].lstrip("0")
    return digits.lstrip("0")


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: per word of letters and digits, lower case, padded with two spaces in
    front and one behind."""
    found = set()
    for word in re.findall(r"[^\W_]+", (text or "").lower()):
        padded = f"  {word} "
        found.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return found


def similarity(a: str, b: str) -> float:
    """pg_trgm's similarity(a, b): shared trigrams over all trigrams of both, 0 to 1."""
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    shared = len(ta & tb)
    return shared / (len(ta) + len(tb) - shared)
