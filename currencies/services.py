"""Every write of exchange rates: one by one (the admin), a whole file at once (the import, all
or nothing) and the scheduled fetch. Each runs in one transaction, writes its rows of the
configuration audit trail (accounts.ConfigChange) inside it, and tells the followers (a forecast
recompute) through the outbox. The admin and the commands call these and only show refusals."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ConfigAction
from accounts.services import config_change_record, config_changes_record_many, model_snapshot, snapshot_diff

from .models import BudgetRate, ExchangeRate, RateSource
from .rates import reporting_currency
from .signals import rates_changed

MAX_RATE = Decimal("1e9")
_CODE = re.compile(r"^[A-Z]{3}$")


class RateRefused(Exception):
    """A rate the rules refuse; nothing was written. `field` names the input it is about."""

    def __init__(self, message, *, code: str, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.field = field


def currency_code_clean(value) -> str:
    """An ISO 4217 code other than the reporting currency (whose rate is always 1)."""
    code = str(value or "").strip().upper()
    if not _CODE.match(code):
        raise RateRefused(
            _("“%(value)s” is not a currency code such as USD.") % {"value": value}, code="invalid_currency",
            field="currency",
        )
    if code == reporting_currency():
        raise RateRefused(
            _("%(currency)s is the reporting currency: its rate is always 1.") % {"currency": code},
            code="reporting_currency", field="currency",
        )
    return code


def rate_clean(value) -> Decimal:
    """A positive rate with at most ten decimals; "0.92" and "0,92" both read as 0.92 (rates have
    no thousands separators)."""
    text = str(value if value is not None else "").strip().replace("\u00a0", "").replace(" ", "")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        rate = Decimal(text)
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite():
        raise RateRefused(_("“%(value)s” is not a rate.") % {"value": value}, code="invalid_rate", field="rate")
    if rate <= 0:
        raise RateRefused(_("A rate must be more than 0."), code="invalid_rate", field="rate")
    if rate >= MAX_RATE or rate != rate.quantize(Decimal("1e-10")):
        raise RateRefused(
            _("“%(value)s” has more than ten decimals or is too large for a rate.") % {"value": value},
            code="invalid_rate", field="rate",
        )
    return rate


def _announce(currencies, source: str) -> None:
    rates_changed.publish(currencies=sorted(set(currencies)), source=str(source))


@dataclass(frozen=True)
class RateRow:
    """One rate to write: 1 `currency` = `rate` in the reporting currency on `day`."""

    currency: str
    day: date
    rate: Decimal


@transaction.atomic
def exchange_rate_set(
    *, currency, day: date, rate, actor=None, actor_label: str = "", source: str = RateSource.ADMIN
) -> ExchangeRate:
    """Create or change the rate of `currency` on `day`; the same rate again writes nothing."""
    code, value = currency_code_clean(currency), rate_clean(rate)
    if not isinstance(day, date):
        raise RateRefused(_("Give the rate's date."), code="invalid_date", field="day")
    base = reporting_currency()
    existing = ExchangeRate.objects.select_for_update().filter(base=base, currency=code, day=day).first()
    if existing is None:
        row = ExchangeRate.objects.create(base=base, currency=code, day=day, rate=value, source=source)
        config_change_record(
            instance=row, action=ConfigAction.CREATE, changes=snapshot_diff(None, _audited(row)), actor=actor,
            actor_label=actor_label,
        )
    else:
        if existing.rate == value:
            return existing
        before = _audited(existing)
        existing.rate, existing.source, existing.updated_at = value, source, timezone.now()
        existing.save(update_fields=["rate", "source", "updated_at"])
        row = existing
        config_change_record(
            instance=row, action=ConfigAction.UPDATE, changes=snapshot_diff(before, _audited(row)), actor=actor,
            actor_label=actor_label,
        )
    _announce([code], source)
    return row


@transaction.atomic
def exchange_rate_delete(*, rate: ExchangeRate | int, actor=None, actor_label: str = "") -> None:
    row = ExchangeRate.objects.select_for_update().get(pk=rate.pk if isinstance(rate, ExchangeRate) else rate)
    pk, before = row.pk, _audited(row)
    row.delete()
    config_change_record(
        instance=row, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None), actor=actor,
        actor_label=actor_label,
    )
    _announce([row.currency], RateSource.ADMIN)


@transaction.atomic
def budget_rate_set(*, currency, year: int, rate, actor=None, actor_label: str = "") -> BudgetRate:
    code, value = currency_code_clean(currency), rate_clean(rate)
    if not isinstance(year, int) or not 1900 <= year <= 2999:
        raise RateRefused(_("“%(value)s” is not a year.") % {"value": year}, code="invalid_year", field="year")
    base = reporting_currency()
    existing = BudgetRate.objects.select_for_update().filter(base=base, currency=code, year=year).first()
    if existing is not None and existing.rate == value:
        return existing
    before = _audited(existing) if existing else None
    row = existing or BudgetRate(base=base, currency=code, year=year)
    row.rate = value
    row.save()
    config_change_record(
        instance=row, action=ConfigAction.UPDATE if existing else ConfigAction.CREATE,
        changes=snapshot_diff(before, _audited(row)), actor=actor, actor_label=actor_label,
    )  # fmt: skip
    _announce([code], RateSource.ADMIN)
    return row


@transaction.atomic
def budget_rate_delete(*, rate: BudgetRate | int, actor=None, actor_label: str = "") -> None:
    row = BudgetRate.objects.select_for_update().get(pk=rate.pk if isinstance(rate, BudgetRate) else rate)
    pk, before = row.pk, _audited(row)
    row.delete()
    config_change_record(
        instance=row, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None), actor=actor,
        actor_label=actor_label,
    )
    _announce([row.currency], RateSource.ADMIN)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int

    @property
    def written(self) -> int:
        return self.created + self.updated


IMPORT_BATCH_SIZE = 1000


@transaction.atomic
def exchange_rates_import(
    *, rows: list[RateRow], actor=None, actor_label: str = "", source: str = RateSource.IMPORT
) -> ImportResult:
    """Write many rates at once (a file, a fetch), all or nothing: every row is checked first,
    then new rates are created and changed ones updated, each audited. Rows are (currency, day,
    rate); a currency and day given twice is refused."""
    base = reporting_currency()
    seen: dict[tuple[str, date], RateRow] = {}
    for row in rows:
        clean = RateRow(currency=currency_code_clean(row.currency), day=row.day, rate=rate_clean(row.rate))
        key = (clean.currency, clean.day)
        if key in seen and seen[key].rate != clean.rate:
            raise RateRefused(
                _("%(currency)s on %(day)s is given twice with different rates.")
                % {"currency": clean.currency, "day": clean.day.isoformat()},
                code="duplicate",
            )
        seen[key] = clean
    if not seen:
        return ImportResult(0, 0, 0)
    currencies = sorted({c for c, _day in seen})
    days = [d for _c, d in seen]
    stored = {
        (r.currency, r.day): r
        for r in ExchangeRate.objects.select_for_update().filter(
            base=base, currency__in=currencies, day__gte=min(days), day__lte=max(days)
        )
    }
    now = timezone.now()
    new, changed, audit = [], [], []
    for key in sorted(seen):
        row = seen[key]
        existing = stored.get(key)
        if existing is None:
            new.append(ExchangeRate(base=base, currency=row.currency, day=row.day, rate=row.rate, source=source,
                                    updated_at=now))
        elif existing.rate != row.rate:
            before = _audited(existing)
            existing.rate, existing.source, existing.updated_at = row.rate, source, now
            changed.append(existing)
            audit.append((existing, ConfigAction.UPDATE, snapshot_diff(before, _audited(existing))))
    created = ExchangeRate.objects.bulk_create(new, batch_size=IMPORT_BATCH_SIZE)
    if changed:
        ExchangeRate.objects.bulk_update(changed, ["rate", "source", "updated_at"], batch_size=IMPORT_BATCH_SIZE)
    audit = [(row, ConfigAction.CREATE, snapshot_diff(None, _audited(row))) for row in created] + audit
    if audit:
        config_changes_record_many(rows=audit, actor=actor, actor_label=actor_label, batch_size=IMPORT_BATCH_SIZE)
        _announce({row.currency for row, _action, _changes in audit}, source)
    return ImportResult(created=len(new), updated=len(changed), unchanged=len(seen) - len(new) - len(changed))


def _audited(row) -> dict:
    """The row as the audit trail keeps it: the rate as written (0.88, not 0.8800000000)."""
    snapshot = model_snapshot(row, exclude=("updated_at",))
    snapshot["rate"] = f"{Decimal(row.rate).normalize():f}"
    return snapshot
