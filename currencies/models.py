"""Exchange rates into the reporting currency: dated reference rates, budget rates per year, and
the log of the scheduled fetches. Written only by `currencies.services` (and the fetch log by
`currencies.fetching`); read through `currencies.rates`."""
from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def reporting_currency() -> str:
    return settings.STAGEFLOW["REPORTING_CURRENCY"]


CURRENCY_CODE = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter currency code such as USD."))


class RateSource(models.TextChoices):
    ADMIN = "admin", _("Entered by an admin")
    IMPORT = "import", _("Imported from a file")
    FETCH = "fetch", _("Fetched from the reference source")
    DEMO = "demo", _("Demo data")


class ExchangeRate(models.Model):
    """What one unit of `currency` was worth in `base` (the reporting currency when it was
    entered) on `day`: 1 USD = `rate` EUR. A day without a row uses the latest earlier rate, up to
    STAGEFLOW["RATE_MAX_AGE_DAYS"] old (weekends and holidays have no reference rates)."""

    base = models.CharField(
        _("reporting currency"), max_length=3, default=reporting_currency, validators=[CURRENCY_CODE],
        help_text=_("The currency the rate converts into."),
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[CURRENCY_CODE])
    day = models.DateField(_("date"))
    rate = models.DecimalField(
        _("rate"), max_digits=20, decimal_places=10, validators=[MinValueValidator(0)],
        help_text=_("What one unit of the currency is worth in the reporting currency, e.g. 1 USD = 0.92 EUR."),
    )
    source = models.CharField(_("source"), max_length=8, choices=RateSource.choices, default=RateSource.ADMIN)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["-day", "currency"]
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        constraints = [
            models.UniqueConstraint(fields=["base", "currency", "day"], name="exchangerate_unique_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchangerate_rate_positive"),
        ]
        # The lookup "the latest rate of a currency on or before a day" reads this index backwards.
        indexes = [models.Index(fields=["base", "currency", "-day"], name="exchangerate_lookup_idx")]

    def __str__(self):
        return f"1 {self.currency} = {self.rate.normalize():f} {self.base} ({self.day.isoformat()})"


class BudgetRate(models.Model):
    """A fixed rate for a whole year, for installations that convert open deals and quotas at the
    budget's rate instead of today's (STAGEFLOW["OPEN_DEALS_RATE"] = "budget")."""

    base = models.CharField(
        _("reporting currency"), max_length=3, default=reporting_currency, validators=[CURRENCY_CODE]
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[CURRENCY_CODE])
    year = models.PositiveSmallIntegerField(_("year"))
    rate = models.DecimalField(
        _("rate"), max_digits=20, decimal_places=10, validators=[MinValueValidator(0)],
        help_text=_("What one unit of the currency is worth in the reporting currency, e.g. 1 USD = 0.92 EUR."),
    )

    class Meta:
        ordering = ["-year", "currency"]
        verbose_name = _("budget rate")
        verbose_name_plural = _("budget rates")
        constraints = [
            models.UniqueConstraint(fields=["base", "currency", "year"], name="budgetrate_unique_year"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="budgetrate_rate_positive"),
        ]

    def __str__(self):
        return f"{self.year}: 1 {self.currency} = {self.rate.normalize():f} {self.base}"


class RateFetch(models.Model):
    """One run of the scheduled fetch of reference rates (append-only): what the admin reads to
    know whether the rates are current."""

    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    source_url = models.CharField(_("source"), max_length=500)
    ok = models.BooleanField(_("succeeded"), default=False)
    rates_written = models.PositiveIntegerField(_("rates written"), default=0)
    latest_day = models.DateField(_("latest rate"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("rate fetch")
        verbose_name_plural = _("rate fetches")

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"
