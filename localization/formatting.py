"""Amounts as the active language writes and reads them.

English: €1,234.56, CHF 1,234.56. German: 1.234,56 €, 1.234,56 CHF. Parsing accepts both
"1.234,56" and "1,234.56" (and plain "1234.56" / "1234,56"), whatever language is active.
"""
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import dateformat, formats
from django.utils.translation import get_language

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
# Languages that write the currency after the number ("1.234,56 €").
SUFFIX_LANGUAGES = {"de"}


def number(value, places: int = 2) -> str:
    """A number with the active language's grouping and decimal separators."""
    if value is None or value == "":
        return ""
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    # number_format cuts off extra decimals; round them half up instead (1234.5 → 1,235).
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return formats.number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)


def money(value, currency: str = "", places: int = 2) -> str:
    """An amount with its currency, placed where the active language puts it."""
    if value is None or value == "":
        return "—"
    currency = (currency or "").upper()
    amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    text = number(abs(amount), places)
    return _placed(text, currency, negative=amount < 0, suffix=_suffix_language())


def _suffix_language() -> bool:
    return (get_language() or "en").split("-")[0] in SUFFIX_LANGUAGES


def _placed(text: str, currency: str, *, negative: bool, suffix: bool) -> str:
    """The formatted number with its sign and currency, where the language puts them."""
    sign = "−" if negative and text.strip("0.,") else ""
    if not currency:
        return f"{sign}{text}"
    symbol = SYMBOLS.get(currency)
    if suffix:
        return f"{sign}{text}\u00a0{symbol or currency}"
    if symbol:
        return f"{sign}{symbol}{text}"
    return f"{sign}{currency}\u00a0{text}"


_SPACES = re.compile(r"[\s\u00a0\u202f']")


def parse_amount(text, *, decimal_separator: str | None = None) -> Decimal:
    """Read an amount written either way: "1.234,56", "1,234.56", "1234,5", "1 234.56", "€ 12".

    With both separators the later one is the decimal separator. With one kind used several times
    it groups ("1.234.567"). Used once before exactly three digits ("1.234", "1,234") it groups when
    it is the active language's grouping separator, else it is the decimal separator — unless
    `decimal_separator` says which one the text's source uses (an import file's column, see
    amount_decimal_separator), which then decides.
    Raises ValueError when the text is not an amount.
    """
    if isinstance(text, Decimal):
        return text
    if isinstance(text, int) and not isinstance(text, bool):
        return Decimal(text)
    if isinstance(text, float):
        return Decimal(str(text))
    raw = _SPACES.sub("", str(text or ""))
    for symbol in ("€", "$", "£", "EUR", "USD", "GBP", "CHF"):
        raw = raw.replace(symbol, "")
    raw = raw.replace("−", "-")
    if not re.fullmatch(r"[-+]?\d[\d.,]*", raw) or raw[-1] in ".,":
        raise ValueError(text)
    dots, commas = raw.count("."), raw.count(",")
    if dots and commas:
        decimal_sep = "." if raw.rfind(".") > raw.rfind(",") else ","
        if decimal_separator is not None and decimal_sep != decimal_separator:
            raise ValueError(text)
    elif dots + commas == 1:
        sep = "." if dots else ","
        after = len(raw) - raw.rfind(sep) - 1
        if decimal_separator is not None:
            grouping = sep != decimal_separator
        else:
            grouping = after == 3 and sep == formats.get_format("THOUSAND_SEPARATOR")
        decimal_sep = None if grouping else sep
    else:
        decimal_sep = None  # no separator, or one kind several times: grouping only
    if decimal_sep is None:
        integer, fraction = raw, ""
    else:
        integer, _, fraction = raw.rpartition(decimal_sep)
        if decimal_sep in integer:
            raise ValueError(text)
    group_sep = "," if decimal_sep == "." else "." if decimal_sep == "," else None
    for sep in filter(None, (group_sep, "." if decimal_sep is None else None, "," if decimal_sep is None else None)):
        head, *groups = integer.lstrip("+-").split(sep)
        if groups and (not head or len(head) > 3 or any(len(g) != 3 for g in groups)):
            raise ValueError(text)
        integer = integer.replace(sep, "")
    try:
        return Decimal(f"{integer}.{fraction}" if fraction else integer)
    except InvalidOperation:
        raise ValueError(text) from None


def decimal_separator_shown(text) -> str | None:
    """The decimal separator an amount's text shows, if it shows one: "1.234,56" (both: the later
    one), "12,5" (once, not before three digits), "1.234.567" (several times: it groups, so the
    other one is decimal). None for "1234", "1.234" or "1,234", which read two ways."""
    raw = _SPACES.sub("", str(text or ""))
    dots, commas = raw.count("."), raw.count(",")
    if dots and commas:
        return "." if raw.rfind(".") > raw.rfind(",") else ","
    if dots + commas == 1:
        sep = "." if dots else ","
        return sep if len(raw) - raw.rfind(sep) - 1 != 3 else None
    if dots > 1:
        return ","
    if commas > 1:
        return "."
    return None


def reads_two_ways(text) -> bool:
    """"1.234" or "1,234": one separator before exactly three digits (a thousand, or one and a bit)."""
    raw = _SPACES.sub("", str(text or ""))
    dots, commas = raw.count("."), raw.count(",")
    return dots + commas == 1 and len(raw) - max(raw.rfind("."), raw.rfind(",")) - 1 == 3


def money_formatter(places: int = 0):
    """`money(value, currency, places)` for the active language as a function, for a page that
    formats many amounts (the board): the separators, grouping and currency placement are looked
    up once instead of per amount. Gives exactly what `money` gives; values it has no fast way
    for (not a Decimal or int, very long numbers, unusual grouping) go through `money` itself."""
    decimal_sep = formats.get_format("DECIMAL_SEPARATOR")
    thousand_sep = formats.get_format("THOUSAND_SEPARATOR")
    grouping = formats.get_format("NUMBER_GROUPING")
    suffix = _suffix_language()
    step = Decimal(1).scaleb(-places)
    if not isinstance(grouping, int) or grouping <= 0:
        return lambda value, currency="": money(value, currency, places)

    def fast(value, currency: str = "") -> str:
        if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
            return money(value, currency, places)
        amount = Decimal(value).quantize(step, rounding=ROUND_HALF_UP)
        digits = f"{abs(amount):f}"
        if len(digits) > 150:
            return money(value, currency, places)
        integer, _, fraction = digits.partition(".")
        if len(integer) > grouping:
            cut = len(integer) % grouping or grouping
            groups = [integer[:cut]] + [integer[i:i + grouping] for i in range(cut, len(integer), grouping)]
            integer = thousand_sep.join(groups)
        text = f"{integer}{decimal_sep}{fraction}" if places > 0 else integer
        return _placed(text, (currency or "").upper(), negative=amount < 0, suffix=suffix)

    return fast


# Format characters short_date_formatter() writes itself; any other character in the format (or an
# escape) sends every date through Django's date_format.
_FAST_DATE_CHARS = set("djmnYyM")


def short_date_formatter():
    """`formats.date_format(value, "SHORT_DATE_FORMAT")` for the active language as a function, for
    a page that formats many dates (the board): the format is read once and month names are looked
    up once per month, instead of one DateFormat object per date. Gives exactly what date_format
    gives; formats with other characters go through date_format itself."""
    format_string = formats.get_format("SHORT_DATE_FORMAT")
    if "\\" in format_string or any(c.isalpha() and c not in _FAST_DATE_CHARS for c in format_string):
        return lambda value: formats.date_format(value, "SHORT_DATE_FORMAT")
    months = {}

    def month(value) -> str:
        if value.month not in months:
            months[value.month] = dateformat.format(value, "M")
        return months[value.month]

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
