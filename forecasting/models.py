"""Forecast snapshots (append-only), quotas and the learned stage probabilities."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Method(models.TextChoices):
    WEIGHTED = "weighted", _("Weighted")
    LEARNED = "learned", _("Learned")
    MONTECARLO = "montecarlo", _("Monte Carlo")
    # The part of the learned and Monte Carlo figures expected from deals not yet created.
    NEW_BUSINESS = "new_business", _("From deals not yet created")


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")


class ForecastSnapshot(models.Model):
    """One forecast figure as computed on `as_of`: for a pipeline, optionally narrowed to a team,
    an owner or the people a manager sees (the dashboard's scopes), one close period, one method
    and one currency (`converted`: every deal converted into the reporting currency, not only the
    deals in it). The Monte Carlo rows also keep the scope's quota and the chance of reaching it.

    Rows are never updated. A recompute whose figures differ from the latest run of the same day
    writes a new run (a new `run` id); readers take the latest run of a day."""

    run = models.UUIDField(_("run"), db_index=True)
    as_of = models.DateField(_("as of"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    pipeline = models.ForeignKey(
        "pipeline.Pipeline", verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="forecast_snapshots"
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager's people"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("The figures of everyone this manager sees, as their dashboard shows them."),
    )
    period_kind = models.CharField(_("period kind"), max_length=8, choices=PeriodKind.choices)
    period_start = models.DateField(_("period start"))
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    currency = models.CharField(_("currency"), max_length=3)
    converted = models.BooleanField(
        _("in the reporting currency"), default=False,
        help_text=_("Every deal converted into the reporting currency (`currency`), not only the deals in it."),
    )
    won = models.DecimalField(_("won"), max_digits=16, decimal_places=2)
    expected = models.DecimalField(_("expected"), max_digits=16, decimal_places=2)
    p10 = models.DecimalField("P10", max_digits=16, decimal_places=2)
    p50 = models.DecimalField("P50", max_digits=16, decimal_places=2)
    p90 = models.DecimalField("P90", max_digits=16, decimal_places=2)
    quota = models.DecimalField(_("quota"), max_digits=16, decimal_places=2, null=True, blank=True)
    quota_chance = models.DecimalField(_("chance to reach the quota"), max_digits=5, decimal_places=4, null=True, blank=True)
    digest = models.CharField(_("digest of the run"), max_length=64)

    class Meta:
        ordering = ["-as_of", "-computed_at", "period_start", "method"]
        verbose_name = _("forecast snapshot")
        verbose_name_plural = _("forecast snapshots")
        indexes = [
            models.Index(fields=["pipeline", "as_of", "-computed_at"], name="snapshot_pipeline_asof_idx"),
            models.Index(fields=["pipeline", "period_kind", "period_start", "method"], name="snapshot_period_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(team__isnull=True) & Q(owner__isnull=True))
                | (Q(team__isnull=True) & Q(manager__isnull=True))
                | (Q(owner__isnull=True) & Q(manager__isnull=True)),
                name="snapshot_one_scope",
            ),
        ]

    def __str__(self):
        return f"{self.as_of} {self.method} {self.period_start} {self.currency} {self.expected}"


class Quota(models.Model):
    """What a rep or a team should win in a period, in one currency."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("rep"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quotas",
    )
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    period_kind = models.CharField(
        _("period kind"), max_length=8, choices=PeriodKind.choices, default=PeriodKind.QUARTER
    )
    period_start = models.DateField(_("period start"), help_text=_("The first day of the month or quarter."))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["-period_start", "team", "user"]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="quota_user_xor_team",
            ),
            models.UniqueConstraint(
                fields=["user", "period_kind", "period_start", "currency"],
                condition=Q(user__isnull=False),
                name="quota_unique_user_period",
            ),
            models.UniqueConstraint(
                fields=["team", "period_kind", "period_start", "currency"],
                condition=Q(team__isnull=False),
                name="quota_unique_team_period",
            ),
        ]

    def __str__(self):
        return f"{self.user or self.team} {self.period_start} {self.amount} {self.currency}"


class LearnedProbability(models.Model):
    """The win probability of a stage as learned from the history on `fitted_on` (append-only),
    next to what the admin configured, for the admin to compare."""

    stage = models.ForeignKey(
        "pipeline.Stage", verbose_name=_("stage"), on_delete=models.CASCADE, related_name="learned_probabilities"
    )
    fitted_on = models.DateField(_("fitted on"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    configured = models.DecimalField(_("configured"), max_digits=5, decimal_places=4)
    learned = models.DecimalField(_("learned"), max_digits=5, decimal_places=4)
    history_only = models.DecimalField(
        _("history alone"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("What the stage history says before shrinking towards the configured value."),
    )
    closed_deals = models.PositiveIntegerField(_("closed deals seen"))

    class Meta:
        ordering = ["-fitted_on", "stage__pipeline", "stage__position"]
        verbose_name = _("learned probability")
        verbose_name_plural = _("learned probabilities")
        indexes = [models.Index(fields=["stage", "-fitted_on"], name="learned_stage_fitted_idx")]

    def __str__(self):
        return f"{self.stage}: {self.learned}"


class ForecastFit(models.Model):
    """A pipeline's fitted forecast model as of `fitted_on` (append-only): what the daily snapshot
    needs from the stage history (the learned probability and close-date slips of each stage, and
    how strongly outcomes move together), so that a recompute does not refit it every time."""

    pipeline = models.ForeignKey(
        "pipeline.Pipeline", verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="forecast_fits"
    )
    fitted_on = models.DateField(_("fitted on"))
    fitted_at = models.DateTimeField(_("computed"), default=timezone.now)
    parameters = models.JSONField(_("parameters"))
    outlook = models.JSONField(
        _("timing and new business"),
        null=True,
        blank=True,
        help_text=_("The time-to-close model, calendar factors and run-rate of new business today's forecast uses."),
    )
    evaluation = models.JSONField(
        _("backtest on this history"),
        null=True,
        blank=True,
        help_text=_("How each method and the naive baselines would have done at past month ends."),
    )

    class Meta:
        ordering = ["-fitted_on", "-fitted_at"]
        verbose_name = _("forecast fit")
        verbose_name_plural = _("forecast fits")
        indexes = [models.Index(fields=["pipeline", "-fitted_on", "-fitted_at"], name="fit_pipeline_latest_idx")]

    def __str__(self):
        return f"{self.pipeline_id} {self.fitted_on}"


class ForecastEvidence(models.Model):
    """What a recompute assumed and how well the methods have done here, stored with its run of
    snapshots (append-only, one per run): per scope, the open deals without an amount or an
    expected close date, and the backtest comparison of the methods on this installation's own
    history (from the stored fit)."""

    run = models.UUIDField(_("run"), unique=True)
    pipeline = models.ForeignKey(
        "pipeline.Pipeline", verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="forecast_evidence"
    )
    as_of = models.DateField(_("as of"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)
    warnings = models.JSONField(_("open deals lacking data, per scope"), default=list)
    comparison = models.JSONField(_("backtest comparison"), null=True, blank=True)
    conversion = models.JSONField(
        _("conversion into the reporting currency"), null=True, blank=True,
        help_text=_("The reporting currency, the rates used and the amounts left out for want of a rate."),
    )

    class Meta:
        ordering = ["-as_of", "-computed_at"]
        verbose_name = _("forecast evidence")
        verbose_name_plural = _("forecast evidence")

    def __str__(self):
        return f"{self.pipeline_id} {self.as_of} {self.run}"
