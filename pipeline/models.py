"""The pipeline domain: pipelines, stages, allowed transitions, organisations and people, deals
and their history.

Only `pipeline.services` changes a deal's stage or status; history rows are append-only.
"""
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .names import localized_name, translations_validate


def default_currency() -> str:
    return settings.STAGEFLOW["DEFAULT_CURRENCY"]


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_translations = models.JSONField(
        _("name in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Akquise"}; a language without a name here reads the name above.'),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_default = models.BooleanField(
        _("default pipeline"), default=False, help_text=_("Shown first on the board.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")

    def __str__(self):
        return localized_name(self)

    def get_absolute_url(self):
        return reverse("pipeline:board") + f"?pipeline={self.pk}"


class StageKind(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")


class Stage(models.Model):
    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(_("name"), max_length=100)
    name_translations = models.JSONField(
        _("name in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Akquise"}; a language without a name here reads the name above.'),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(
        _("probability (%)"),
        default=10,
        validators=[MaxValueValidator(100)],
        help_text=_("Chance that a deal in this stage is won, used for the weighted amount."),
    )
    kind = models.CharField(_("kind"), max_length=8, choices=StageKind.choices, default=StageKind.OPEN)
    rotting_days = models.PositiveSmallIntegerField(
        _("rotting after (days)"),
        null=True,
        blank=True,
        help_text=_("A deal that stays longer than this is marked as rotting. Empty: never."),
    )
    colour = models.CharField(
        _("colour"),
        max_length=7,
        default="#6c757d",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #1a2b3c."))],
    )
    guidance = models.TextField(
        _("guidance for reps"), blank=True, help_text=_("What a rep should achieve in this stage.")
    )

    class Meta:
        ordering = ["pipeline", "position", "pk"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name_per_pipeline"),
            models.CheckConstraint(condition=models.Q(probability__lte=100), name="stage_probability_lte_100"),
        ]

    def __str__(self):
        return localized_name(self)

    @property
    def is_won(self) -> bool:
        return self.kind == StageKind.WON


class Transition(models.Model):
    """An allowed move into `to_stage`, and what a deal needs to enter it.

    `from_stage` empty means "from any stage of the pipeline". When both a specific and an
    any-stage row match a move, the specific row's requirements apply.
    """

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="transitions"
    )
    from_stage = models.ForeignKey(
        Stage,
        verbose_name=_("from stage"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="transitions_out",
        help_text=_("Empty: from any stage."),
    )
    to_stage = models.ForeignKey(
        Stage, verbose_name=_("to stage"), on_delete=models.CASCADE, related_name="transitions_in"
    )
    requires_amount = models.BooleanField(_("needs an amount"), default=False)
    requires_expected_close = models.BooleanField(_("needs an expected close date"), default=False)
    requires_contact = models.BooleanField(
        _("needs a contact with e-mail or phone"), default=False,
        help_text=_("A person on the deal (or the organisation's main contact) with an e-mail address or phone number."),
    )
    requires_role = models.ForeignKey(
        "ContactRole", verbose_name=_("needs a contact in this role"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", help_text=_("E.g. a decision maker. Empty: no role needed."),
    )
    requires_next_step = models.BooleanField(_("needs a next step"), default=False)
    requires_fields = models.JSONField(
        _("needs these custom fields"), default=list, blank=True,
        help_text=_("Keys of deal custom fields that must have a value."),
    )
    min_fit_score = models.PositiveSmallIntegerField(
        _("minimum fit score"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("The organisation must score at least this much (0–100) on the ideal customer profile. Empty: no minimum."),
    )

    class Meta:
        ordering = ["pipeline", "to_stage__position", "from_stage__position"]
        verbose_name = _("transition")
        verbose_name_plural = _("transitions")
        constraints = [
            models.UniqueConstraint(
                fields=["from_stage", "to_stage"],
                condition=models.Q(from_stage__isnull=False),
                name="transition_unique_pair",
            ),
            models.UniqueConstraint(
                fields=["to_stage"],
                condition=models.Q(from_stage__isnull=True),
                name="transition_unique_any_source",
            ),
        ]

    def __str__(self):
        source = self.from_stage.name if self.from_stage_id else _("any stage")
        return f"{source} → {self.to_stage.name}"

    @property
    def requirement_labels(self) -> list[str]:
        labels = []
        if self.requires_amount:
            labels.append(str(_("an amount")))
        if self.requires_expected_close:
            labels.append(str(_("an expected close date")))
        if self.requires_contact:
            labels.append(str(_("a contact with e-mail or phone")))
        if self.requires_role_id:
            labels.append(str(_("a contact who is %(role)s") % {"role": self.requires_role}))
        if self.requires_next_step:
            labels.append(str(_("a next step")))
        if self.requires_fields:
            names = {f.key: str(f) for f in CustomField.objects.filter(record_kind=RecordKind.DEAL, key__in=self.requires_fields)}
            labels += [str(_("a value for “%(field)s”") % {"field": names.get(key, key)}) for key in self.requires_fields]
        if self.min_fit_score is not None:
            labels.append(str(_("a fit score of at least %(score)s") % {"score": self.min_fit_score}))
        return labels


class LeadSource(models.TextChoices):
    REFERRAL = "referral", _("Referral")
    EVENT = "event", _("Event")
    SOCIAL = "social", _("Social selling")
    INBOUND = "inbound", _("Inbound content")
    WEBINAR = "webinar", _("Webinar")
    CASE_STUDY = "case_study", _("Case study")
    EBOOK = "ebook", _("E-book")
    COLD = "cold", _("Cold outreach")
    OTHER = "other", _("Other")


class CompanySize(models.TextChoices):
    S1 = "1-10", _("1–10 employees")
    S2 = "11-50", _("11–50 employees")
    S3 = "51-200", _("51–200 employees")
    S4 = "201-1000", _("201–1,000 employees")
    S5 = "1000+", _("more than 1,000 employees")


def domain_normalize(value: str) -> str:
    """`https://www.Example.com/about` → `example.com`: how domains are stored, compared and found."""
    value = (value or "").strip().lower()
    value = value.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":", 1)[0]
    return value.removeprefix("www.").strip(".")


def phone_digits(value: str) -> str:
    """The digits of a phone number, for finding and comparing it (`+49 (30) 1234-5` → `493012345`)."""
    return "".join(ch for ch in (value or "") if ch.isdigit())


class Organization(models.Model):
    """A company Stageflow sells to: a lead while it is being prospected and qualified, a customer
    once a deal with it is won. Written only by pipeline.organizations."""

    name = models.CharField(_("name"), max_length=200)
    domains = models.CharField(
        _("domains"), max_length=500, blank=True,
        help_text=_("The organisation's web and e-mail domains, separated by spaces, e.g. example.com example.de."),
    )
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    company_size = models.CharField(_("company size"), max_length=16, choices=CompanySize.choices, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, help_text=_("Two-letter code, e.g. DE."))
    street = models.CharField(_("street"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    website = models.URLField(_("website"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=LeadSource.choices, default=LeadSource.OTHER)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="organizations",
    )
    main_contact = models.ForeignKey(
        "Person", verbose_name=_("main contact"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text=_("Who Stageflow addresses when a deal names no contact of its own."),
    )
    customer_since = models.DateField(
        _("customer since"), null=True, blank=True, help_text=_("The day its first deal was won."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Written by the qualification app (the ideal customer profile); empty until scored.
    fit_score = models.PositiveSmallIntegerField(
        _("fit score"), null=True, blank=True, validators=[MaxValueValidator(100)],
        help_text=_("How well the organisation matches the ideal customer profile, 0–100."),
    )
    fit_explanation = models.JSONField(_("fit explanation"), default=dict, blank=True, editable=False)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        indexes = [models.Index(fields=["name"]), models.Index(fields=["fit_score"], name="organization_fit_score_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("pipeline:organization_detail", args=[self.pk])

    @property
    def domain_list(self) -> list[str]:
        return self.domains.split()

    # The main contact's name, e-mail and phone: what offers, exports and the lead list show.
    # Read with select_related("main_contact") where many organisations are listed.
    @property
    def contact_name(self) -> str:
        return self.main_contact.name if self.main_contact_id else ""

    @property
    def contact_email(self) -> str:
        return self.main_contact.email if self.main_contact_id else ""

    @property
    def contact_phone(self) -> str:
        return self.main_contact.phone if self.main_contact_id else ""

    @property
    def has_contact(self) -> bool:
        return bool(self.main_contact_id and self.main_contact.is_reachable)


class Consent(models.TextChoices):
    UNKNOWN = "unknown", _("Not asked")
    GRANTED = "granted", _("Agreed to be contacted")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Person(models.Model):
    """Someone Stageflow's users sell to, usually at an organisation. Written only by
    pipeline.people. `email` and `phone` are copies of the first address and number, kept by the
    same service, for lists and cards."""

    name = models.CharField(_("name"), max_length=200)
    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="people",
    )
    job_title = models.CharField(_("job title"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True, editable=False)
    phone = models.CharField(_("phone"), max_length=50, blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="people",
    )
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)
    consent = models.CharField(_("consent to be contacted"), max_length=12, choices=Consent.choices, default=Consent.UNKNOWN)
    consent_source = models.CharField(
        _("consent given how"), max_length=200, blank=True, help_text=_("E.g. the web form, a signed order, a call."),
    )
    consent_at = models.DateTimeField(_("consent given on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    erased_at = models.DateTimeField(
        _("erased"), null=True, blank=True, editable=False,
        help_text=_("When the person's personal data was erased on request; the record stays for the deals' sake."),
    )
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("person")
        verbose_name_plural = _("people")
        indexes = [
            models.Index(fields=["name"], name="person_name_idx"),
            models.Index(fields=["organization", "name"], name="person_org_name_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("pipeline:person_detail", args=[self.pk])

    @property
    def is_reachable(self) -> bool:
        return bool(self.email or self.phone)


class EmailKind(models.TextChoices):
    WORK = "work", _("Work")
    PRIVATE = "private", _("Private")
    OTHER = "other", _("Other")


class PhoneKind(models.TextChoices):
    WORK = "work", _("Work")
    MOBILE = "mobile", _("Mobile")
    HOME = "home", _("Home")
    OTHER = "other", _("Other")


class PersonEmail(models.Model):
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="emails")
    address = models.EmailField(_("e-mail"))
    kind = models.CharField(_("kind"), max_length=8, choices=EmailKind.choices, default=EmailKind.WORK)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["person", "position", "pk"]
        verbose_name = _("e-mail address")
        verbose_name_plural = _("e-mail addresses")
        indexes = [models.Index(fields=["address"], name="personemail_address_idx")]
        constraints = [models.UniqueConstraint(fields=["person", "address"], name="personemail_unique")]

    def __str__(self):
        return self.address


class PersonPhone(models.Model):
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(_("phone"), max_length=50)
    digits = models.CharField(_("digits"), max_length=50, editable=False, db_index=True)
    kind = models.CharField(_("kind"), max_length=8, choices=PhoneKind.choices, default=PhoneKind.WORK)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["person", "position", "pk"]
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")

    def __str__(self):
        return self.number


class ContactRole(models.Model):
    """A part a person plays in a deal (decision maker, champion, …); admins configure the list."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    name_translations = models.JSONField(
        _("name in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Akquise"}; a language without a name here reads the name above.'),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("contact role")
        verbose_name_plural = _("contact roles")

    def __str__(self):
        return localized_name(self)


class LostReason(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_translations = models.JSONField(
        _("name in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Akquise"}; a language without a name here reads the name above.'),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")

    def __str__(self):
        return localized_name(self)


class DealStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class ForecastCategory(models.TextChoices):
    """A rep's own call on a deal, independent of its stage (summed separately in forecasts)."""

    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    OMITTED = "omitted", _("Omitted")
    # Set by the services when a deal is won; a rep does not choose it for an open deal.
    CLOSED = "closed", _("Closed won")


class Deal(models.Model):
    """A card on the board. Its stage and status change only through pipeline.services."""

    pipeline = models.ForeignKey(Pipeline, verbose_name=_("pipeline"), on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals")
    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="deals"
    )
    title = models.CharField(_("title"), max_length=200)
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    probability = models.PositiveSmallIntegerField(
        _("probability override (%)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("Empty: the stage's probability."),
    )
    status = models.CharField(_("status"), max_length=8, choices=DealStatus.choices, default=DealStatus.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="deals"
    )
    lost_reason = models.ForeignKey(
        LostReason, verbose_name=_("lost reason"), null=True, blank=True, on_delete=models.PROTECT, related_name="deals"
    )
    lost_note = models.TextField(_("lost note"), blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    forecast_category = models.CharField(
        _("forecast category"), max_length=16, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE,
        help_text=_("The rep's own call: commit, best case, pipeline, or omitted from the forecast."),
    )
    stage_entered_at = models.DateTimeField(_("in stage since"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True, db_index=True)
    rotting_snoozed_until = models.DateField(
        _("rotting warning snoozed until"), null=True, blank=True,
        help_text=_("No rotting warning before this date."),
    )
    rotting_snooze_reason = models.CharField(_("why the rotting warning is snoozed"), max_length=200, blank=True)
    retention_done_at = models.DateTimeField(
        _("onboarding completed"), null=True, blank=True,
        help_text=_("When a won deal's onboarding was completed; it then leaves the board."),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [
            # The board: open deals of a stage, newest arrivals first.
            models.Index(fields=["stage", "status", "-stage_entered_at"], name="deal_board_idx"),
            models.Index(fields=["owner", "status"], name="deal_owner_status_idx"),
            models.Index(fields=["pipeline", "status", "expected_close"], name="deal_forecast_idx"),
            # The won deals the board still shows (closed recently): their column totals are
            # counted live, from this range, while the open deals' come from OpenStageTotal.
            models.Index(fields=["pipeline", "status", "closed_at"], name="deal_closed_idx"),
            # The board's per-column ranking (newest arrivals first, 50 per column) and a column's
            # next page, in index order without a sort. The columns after the id never change the
            # order; they let PostgreSQL rank every column with an index-only scan (a covering
            # INCLUDE would do the same, but SQLite cannot have one). See bench/results/plans.md.
            models.Index(
                fields=[
                    "pipeline", "stage", "-stage_entered_at", "-id", "status", "closed_at", "retention_done_at", "owner",
                ],
                name="deal_board_rank_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0), name="deal_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="lost") | models.Q(lost_reason__isnull=False),
                name="deal_lost_needs_reason",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("pipeline:deal_detail", args=[self.pk])

    @property
    def effective_probability(self) -> int:
        if self.status == DealStatus.WON:
            return 100
        if self.status == DealStatus.LOST:
            return 0
        return self.probability if self.probability is not None else self.stage.probability

    @property
    def days_in_stage(self) -> int:
        return max(0, (timezone.now() - self.stage_entered_at).days)

    @property
    def is_rotting_snoozed(self) -> bool:
        return self.rotting_snoozed_until is not None and timezone.localdate() < self.rotting_snoozed_until

    @property
    def is_overdue_in_stage(self) -> bool:
        """In the stage longer than its rotting days, snoozed or not."""
        days = self.stage.rotting_days
        return self.status == DealStatus.OPEN and days is not None and self.days_in_stage > days

    @property
    def is_rotting(self) -> bool:
        """The warning the board shows: overdue in its stage and not snoozed."""
        return self.is_overdue_in_stage and not self.is_rotting_snoozed


class DealContact(models.Model):
    """A person on a deal, in a role. Written only by pipeline.people."""

    deal = models.ForeignKey(Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="contacts")
    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="deal_contacts")
    role = models.ForeignKey(
        ContactRole, verbose_name=_("role"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now)

    class Meta:
        ordering = ["deal", "role__position", "pk"]
        verbose_name = _("deal contact")
        verbose_name_plural = _("deal contacts")
        constraints = [models.UniqueConstraint(fields=["deal", "person"], name="dealcontact_unique")]
        indexes = [models.Index(fields=["person", "deal"], name="dealcontact_person_idx")]

    def __str__(self):
        return f"{self.person} ({self.role or '-'})"


class OpenStageTotal(models.Model):
    """The open deals of one stage, owner and currency: how many, how many with an amount, their
    amounts, and what the weighted amount needs (the amounts of deals weighted by their stage's
    probability, and the already weighted amounts of deals with a probability of their own, so
    that changing a stage's probability changes no row here). The board's column headers read
    these rows instead of every open deal (selectors.board_stage_totals).

    Kept by the database itself: triggers on the deal table (migration 0016) add and subtract in
    the transaction of every insert, update and delete, whichever code path wrote the deal, so the
    rows are as exact as the deals. services.open_stage_totals_drift compares them with a full
    recount (a test and a periodic task do)."""

    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3)
    deals = models.IntegerField(_("deals"), default=0)
    priced = models.IntegerField(_("deals with an amount"), default=0)
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=2, default=0)
    amount_at_stage_probability = models.DecimalField(
        _("amount weighted by the stage's probability"), max_digits=20, decimal_places=2, default=0
    )
    weighted_own = models.DecimalField(
        _("weighted amount of deals with their own probability"), max_digits=24, decimal_places=4, default=0
    )

    class Meta:
        verbose_name = _("open stage total")
        verbose_name_plural = _("open stage totals")
        constraints = [
            models.UniqueConstraint(fields=["stage", "owner", "currency"], name="openstagetotal_unique"),
        ]

    def __str__(self):
        return f"{self.stage_id}/{self.owner_id}/{self.currency}: {self.deals}"


class StageChange(models.Model):
    """Append-only history of a deal's stage and status. Written only by pipeline.events."""

    deal = models.ForeignKey(Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(
        Stage, verbose_name=_("from stage"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, verbose_name=_("to stage"), on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(_("from status"), max_length=8, choices=DealStatus.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=8, choices=DealStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        _("by (outside Stageflow)"), max_length=200, blank=True,
        help_text=_("Who acted when it was not a Stageflow user, e.g. an import or a customer."),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    time_in_previous = models.DurationField(_("time in previous stage"), null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, verbose_name=_("lost reason"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        indexes = [models.Index(fields=["deal", "at"], name="stagechange_deal_at_idx")]

    def __str__(self):
        return f"{self.deal_id}: {self.from_stage_id} → {self.to_stage_id}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or str(_("system"))


class DealField(models.TextChoices):
    AMOUNT = "amount", _("Amount")
    CURRENCY = "currency", _("Currency")
    EXPECTED_CLOSE = "expected_close", _("Expected close")
    PROBABILITY = "probability", _("Probability")
    OWNER = "owner", _("Owner")
    TITLE = "title", _("Title")
    NEXT_STEP = "next_step", _("Next step")
    FORECAST_CATEGORY = "forecast_category", _("Forecast category")
    ROTTING_SNOOZE = "rotting_snooze", _("Rotting warning snoozed until")
    ORGANIZATION = "organization", _("Organisation")
    # A custom field: the row names it by its key and its label at the time of the change.
    CUSTOM = "custom", _("Custom field")


class DealChange(models.Model):
    """Append-only history of a deal's other fields, so forecasts can be replayed as of a date."""

    deal = models.ForeignKey(Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(_("field"), max_length=20, choices=DealField.choices)
    old_value = models.CharField(_("old value"), max_length=200, blank=True)
    new_value = models.CharField(_("new value"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("by (outside Stageflow)"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    note = models.CharField(_("note"), max_length=300, blank=True, help_text=_("Why the value changed, when it was not a person's edit."))
    # For a custom field: its key (which never changes) and its label when the value changed, so
    # that the row stays readable after the field is renamed or removed.
    field_key = models.CharField(_("custom field key"), max_length=50, blank=True)
    field_label = models.CharField(_("custom field label"), max_length=100, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("deal change")
        verbose_name_plural = _("deal changes")
        indexes = [models.Index(fields=["deal", "field", "at"], name="dealchange_deal_field_idx")]

    def __str__(self):
        return f"{self.deal_id}: {self.field} {self.old_value} → {self.new_value}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or str(_("system"))


class MatchKind(models.TextChoices):
    NAME = "name", _("same name")
    DOMAIN = "domain", _("same domain")
    EMAIL = "email", _("same e-mail address")
    PHONE = "phone", _("same phone number")


class MatchKey(models.Model):
    """A normalised value that two records of the same kind share when they are probably the same
    company or person (see pipeline.matching): an organisation's name without its legal form, each
    of its domains, its phone number; a person's e-mail addresses, phone numbers and name at their
    organisation. Duplicate suggestions are the keys that several visible records share, found by
    one GROUP BY. Derived data, written only by pipeline.matching whenever the services write the
    record."""

    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), null=True, blank=True, on_delete=models.CASCADE, related_name="+",
    )
    person = models.ForeignKey(Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=8, choices=MatchKind.choices)
    value = models.CharField(_("value"), max_length=255)

    class Meta:
        verbose_name = _("match key")
        verbose_name_plural = _("match keys")
        constraints = [
            # A record has each key once, so the suggestions count records without DISTINCT; they
            # group one kind of record's keys in the order of its index (an index-only scan).
            models.UniqueConstraint(
                fields=["kind", "value", "organization"], condition=models.Q(organization__isnull=False),
                name="matchkey_organization_unique",
            ),
            models.UniqueConstraint(
                fields=["kind", "value", "person"], condition=models.Q(person__isnull=False), name="matchkey_person_unique",
            ),
            models.CheckConstraint(
                condition=(models.Q(organization__isnull=False, person__isnull=True)
                           | models.Q(organization__isnull=True, person__isnull=False)),
                name="matchkey_one_record",
            ),
        ]

    def __str__(self):
        return f"{self.kind}: {self.value}"


class MergedKind(models.TextChoices):
    ORGANIZATION = "organization", _("organisation")
    PERSON = "person", _("person")


class MergedRecord(models.Model):
    """A tombstone: organisation or person `old_id` was merged into `survivor_id` (its page's
    address leads there). When the survivor is merged again later, its tombstones follow it, so an
    old id always names a record that exists. Written only by pipeline.merging."""

    kind = models.CharField(_("kind"), max_length=12, choices=MergedKind.choices)
    old_id = models.PositiveBigIntegerField(_("merged record"))
    survivor_id = models.PositiveBigIntegerField(_("merged into"))
    merged_at = models.DateTimeField(_("merged"), default=timezone.now)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("merged by"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-merged_at", "-pk"]
        verbose_name = _("merged record")
        verbose_name_plural = _("merged records")
        constraints = [models.UniqueConstraint(fields=["kind", "old_id"], name="mergedrecord_unique_old_id")]
        indexes = [models.Index(fields=["kind", "survivor_id"], name="mergedrecord_survivor_idx")]

    def __str__(self):
        return f"{self.kind} {self.old_id} → {self.survivor_id}"


class RecordKind(models.TextChoices):
    DEAL = "deal", _("Deal")
    ORGANIZATION = "organization", _("Organisation")
    PERSON = "person", _("Person")
    ACTIVITY = "activity", _("Activity")


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    MONEY = "money", _("Money")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes/no")
    CHOICE = "choice", _("Single choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")
    USER = "user", _("User")
    URL = "url", _("Web address")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")


class CustomField(models.Model):
    """A field an admin adds to one kind of record. Values live in the record's `custom` column
    (JSON: JSONB on PostgreSQL), under `key`, which never changes once the field exists, so that
    renaming the field keeps every value and every history row that names it. Written only by
    pipeline.custom_fields."""

    record_kind = models.CharField(_("on"), max_length=16, choices=RecordKind.choices)
    key = models.SlugField(
        _("key"), max_length=50,
        help_text=_("How the field is named in the API, imports and exports, e.g. contract_term. It cannot change later."),
    )
    name = models.CharField(_("label"), max_length=100)
    name_translations = models.JSONField(
        _("label in each language"), default=dict, blank=True, validators=[translations_validate],
        help_text=_('What people who use Stageflow in that language read, e.g. {"de": "Vertragslaufzeit"}.'),
    )
    field_type = models.CharField(_("type"), max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(
        _("choices"), default=list, blank=True,
        help_text=_("For single and multiple choice: the options, one per line."),
    )
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, help_text=_("For money: the currency of its amounts. Empty: the default currency."),
    )
    required = models.BooleanField(
        _("required"), default=False, help_text=_("Forms and the API refuse a record without a value."),
    )
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("An inactive field is hidden everywhere; its values and history stay."),
    )
    on_cards = models.BooleanField(
        _("shown on cards"), default=False, help_text=_("Deal fields only: shown on the board's cards (at most three fields)."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["record_kind", "position", "pk"]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        constraints = [models.UniqueConstraint(fields=["record_kind", "key"], name="customfield_unique_key")]

    def __str__(self):
        return localized_name(self)
