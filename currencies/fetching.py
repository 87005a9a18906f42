"""The scheduled fetch of reference rates: an XML file in the format of the European Central
Bank's euro reference rates (`<Cube time="2025-06-02"><Cube currency="USD" rate="1.14"/>…`), from
STAGEFLOW["RATES_FETCH_URL"]. The feed quotes 1 EUR in each currency; the rates into the reporting
currency are worked out from it (cross rates when the reporting currency is not the euro).

Every run is logged in RateFetch (the admin's status) and in the log. Without network, or with a
file that is not a rate feed, nothing is written but that log row: the stored rates stay."""
from __future__ import annotations

import logging
import urllib.error
import urllib.request
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from xml.etree import ElementTree

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import RateFetch, RateSource
from .rates import reporting_currency
from .services import RateRefused, RateRow, exchange_rates_import

logger = logging.getLogger(__name__)

FEED_BASE = "EUR"
MAX_BYTES = 5 * 1024 * 1024
PLACES = Decimal("1e-10")
ACTOR_LABEL = "exchange rates fetch"


class FeedInvalid(Exception):
    """The file is not a reference-rate feed Stageflow can read."""


def feed_rates(data: bytes) -> dict[date, dict[str, Decimal]]:
    """Per day, 1 EUR in each currency of the feed."""
    if b"<!DOCTYPE" in data[:2048].upper() or b"<!ENTITY" in data.upper():
        raise FeedInvalid(_("The file declares a document type or entities, which a rate feed never does."))
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise FeedInvalid(_("The file is not XML (%(error)s).") % {"error": error}) from None
    days: dict[date, dict[str, Decimal]] = {}
    for cube in root.iter():
        if not cube.tag.endswith("Cube") or "time" not in cube.attrib:
            continue
        try:
            day = date.fromisoformat(cube.attrib["time"])
        except ValueError:
            raise FeedInvalid(_("“%(value)s” is not a date.") % {"value": cube.attrib["time"]}) from None
        quotes = {}
        for child in cube:
            code, rate = child.attrib.get("currency", "").upper(), child.attrib.get("rate", "")
            try:
                value = Decimal(rate)
            except InvalidOperation:
                raise FeedInvalid(_("“%(value)s” is not a rate.") % {"value": rate}) from None
            if len(code) == 3 and value.is_finite() and value > 0:
                quotes[code] = value
        days[day] = quotes
    if not days:
        raise FeedInvalid(_("The file holds no rates."))
    return days


def rates_into(days: dict[date, dict[str, Decimal]], *, base: str, currencies) -> list[RateRow]:
    """The rates of `currencies` into `base` (1 unit = rate × base) on each day of the feed that
    quotes both."""
    rows = []
    for day, quotes in sorted(days.items()):
        quotes = {**quotes, FEED_BASE: Decimal(1)}
        if base not in quotes:
            continue
        for currency in sorted(set(currencies) - {base}):
            if currency in quotes:
                rate = (quotes[base] / quotes[currency]).quantize(PLACES, rounding=ROUND_HALF_UP)
                rows.append(RateRow(currency=currency, day=day, rate=rate))
    return rows


def _download(url: str, timeout: int) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "Stageflow exchange rates"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the admin's setting
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise FeedInvalid(_("The file is larger than 5 MB."))
    return data


def rates_fetch(*, url: str | None = None, timeout: int | None = None) -> RateFetch:
    """Fetch the feed and store its rates of the configured currencies; log the run (RateFetch)
    whatever happens. Never raises for an unreachable or broken source."""
    url = url or settings.STAGEFLOW["RATES_FETCH_URL"]
    timeout = timeout or settings.STAGEFLOW["RATES_FETCH_TIMEOUT"]
    record = RateFetch(started_at=timezone.now(), source_url=url[:500])
    base = reporting_currency()
    try:
        days = feed_rates(_download(url, timeout))
        rows = rates_into(days, base=base, currencies=[c.upper() for c in settings.STAGEFLOW["CURRENCIES"]])
        if not rows and base not in {FEED_BASE, *(c for quotes in days.values() for c in quotes)}:
            raise FeedInvalid(
                _("The feed has no rates for the reporting currency %(currency)s.") % {"currency": base}
            )
        result = exchange_rates_import(rows=rows, actor_label=ACTOR_LABEL, source=RateSource.FETCH)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", None) or error
        logger.warning("Exchange rates: %s could not be fetched (%s); the stored rates are kept.", url, reason)
        record.message = _("The source could not be reached (%(reason)s). The rates stored so far are kept.") % {
            "reason": reason
        }
    except (FeedInvalid, RateRefused) as error:
        logger.warning("Exchange rates: %s is not a usable rate feed (%s); the stored rates are kept.", url, error)
        record.message = _("The source's file could not be read: %(error)s The rates stored so far are kept.") % {
            "error": error
        }
    else:
        record.ok = True
        record.rates_written = result.written
        record.latest_day = max(days)
        record.message = _("%(new)s new and %(changed)s changed rates; the latest are of %(day)s.") % {
            "new": result.created, "changed": result.updated, "day": max(days).isoformat(),
        }  # fmt: skip
        logger.info("Exchange rates: %s fetched, %s rates written.", url, result.written)
    record.save()
    return record
