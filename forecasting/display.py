"""How the dashboard names forecast periods for people. The stored and exported labels
("2026-Q4", "2026-11": the forecast command, the API, the snapshots) stay as they are."""

import re
from datetime import date

from django.utils import formats
from django.utils.translation import gettext

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_name(label: str) -> str:
    """"2026-Q4" → "Q4 2026", "2026-11" → "November 2026" (month names in the active language);
    anything else is returned unchanged."""
    if match := _QUARTER.match(label):
        year, quarter = match.groups()
        return gettext("Q%(quarter)s %(year)s") % {"quarter": quarter, "year": year}
    if (match := _MONTH.match(label)) and 1 <= int(match.group(2)) <= 12:
        return formats.date_format(date(int(match.group(1)), int(match.group(2)), 1), "YEAR_MONTH_FORMAT")
    return label


def with_period_names(rows: list[dict]) -> list[dict]:
    """The rows, each with a `label` for display beside its machine-readable `period`."""
    for row in rows:
        row["label"] = period_name(row["period"])
    return rows
