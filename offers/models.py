"""Products, price lists, offers with versions, and the customer's answer to a sent version.

An `Offer` belongs to a deal and holds numbered `OfferVersion`s. A version is the document: its
texts, optional packages (the customer picks one), line items and the state of its link. Only
`offers.services` changes a version's status; an accepted version is never edited again, a new
version supersedes it.
"""
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.models import Deal, default_currency

PERCENT_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]
OFFER_TEXT_MAX_LENGTH = 10_000
PACKAGE_DESCRIPTION_MAX_LENGTH = 2_000


class Unit(models.TextChoices):
    PIECE = "piece", _("piece")
    HOUR = "hour", _("hour")
    DAY = "day", _("day")
    MONTH = "month", _("month")
    YEAR = "year", _("year")
    LICENCE = "licence", _("licence")
    FLAT = "flat", _("flat rate")


class Product(models.Model):
    name = models.CharField(_("name"), max_length=200)
    sku = models.CharField(_("article number"), max_length=50, blank=True)
    description = models.TextField(_("description"), blank=True)
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices, default=Unit.PIECE)
    list_price = models.DecimalField(
        _("list price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    tax_rate = models.DecimalField(
        _("tax rate (%)"), max_digits=5, decimal_places=2, default=Decimal("19.00"), validators=PERCENT_VALIDATORS
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(condition=models.Q(list_price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self):
        return self.name


class PriceList(models.Model):
    """Prices that differ from the list price, for example a partner or a USD price list."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")

    def __str__(self):
        return f"{self.name} ({self.currency})"


class PriceListItem(models.Model):
    price_list = models.ForeignKey(
        PriceList, verbose_name=_("price list"), on_delete=models.CASCADE, related_name="items"
    )
    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+")
    price = models.DecimalField(
        _("price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(fields=["price_list", "product"], name="pricelistitem_unique_product"),
        ]

    def __str__(self):
        return f"{self.product}: {self.price}"


class Offer(models.Model):
    deal = models.ForeignKey(Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(_("title"), max_length=200)
    price_list = models.ForeignKey(
        PriceList, verbose_name=_("price list"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("offer")
        verbose_name_plural = _("offers")

    def __str__(self):
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"OF-{self.pk:05d}" if self.pk else "OF-?"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    SUPERSEDED = "superseded", _("Superseded")
    EXPIRED = "expired", _("Expired")


class OfferVersion(models.Model):
    offer = models.ForeignKey(Offer, verbose_name=_("offer"), on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveSmallIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en")
    currency = models.CharField(_("currency"), max_length=3, default=default_currency)
    # The limits keep an offer readable and its PDF quick to draw (about three pages each).
    situation = models.TextField(
        _("the customer's situation"), blank=True, max_length=OFFER_TEXT_MAX_LENGTH,
        help_text=_("What the customer told you: their goals and problems."),
    )
    benefit = models.TextField(
        _("the customer's benefit"), blank=True, max_length=OFFER_TEXT_MAX_LENGTH,
        help_text=_("What this offer changes for the customer."),
    )
    terms = models.TextField(_("terms"), blank=True, max_length=OFFER_TEXT_MAX_LENGTH)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Discount approval: who approved the highest discount, when, and which discount it was.
    approval_requested_at = models.DateTimeField(_("approval requested"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_discount = models.DecimalField(
        _("approved discount (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    # The customer's link: only the SHA-256 of the token is stored.
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("sent by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    token_hash = models.CharField(_("link token hash"), max_length=64, null=True, blank=True, unique=True)
    token_expires_at = models.DateTimeField(_("link expires"), null=True, blank=True)
    document_hash = models.CharField(_("document hash when sent"), max_length=64, blank=True)
    # Frozen when sent, so later edits of the lead, the offer's title or the company settings
    # do not change a document the customer is reading (and cannot make its hash stale).
    sent_title = models.CharField(_("title when sent"), max_length=200, blank=True)
    sent_customer = models.CharField(_("customer when sent"), max_length=200, blank=True)
    sent_contact = models.CharField(_("contact when sent"), max_length=200, blank=True)
    sent_seller = models.CharField(_("seller when sent"), max_length=200, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["offer", "-number"]
        verbose_name = _("offer version")
        verbose_name_plural = _("offer versions")
        constraints = [
            models.UniqueConstraint(fields=["offer", "number"], name="offerversion_unique_number"),
        ]

    def __str__(self):
        return f"{self.offer.number} v{self.number}"

    def get_absolute_url(self):
        return reverse("offers:version_detail", args=[self.pk])

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT

    @property
    def link_is_live(self) -> bool:
        return (
            self.status == VersionStatus.SENT
            and bool(self.token_hash)
            and self.token_expires_at is not None
            and self.token_expires_at > timezone.now()
        )


class OfferPackage(models.Model):
    """A choice such as Basic / Standard / Premium. Lines without a package belong to every package."""

    version = models.ForeignKey(OfferVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="packages")
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, max_length=PACKAGE_DESCRIPTION_MAX_LENGTH)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_recommended = models.BooleanField(_("recommended"), default=False)

    class Meta:
        ordering = ["version", "position", "pk"]
        verbose_name = _("package")
        verbose_name_plural = _("packages")

    def __str__(self):
        return self.name


class OfferLine(models.Model):
    version = models.ForeignKey(OfferVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="lines")
    package = models.ForeignKey(
        OfferPackage, verbose_name=_("package"), null=True, blank=True, on_delete=models.CASCADE, related_name="lines",
        help_text=_("Empty: part of every package."),
    )
    product = models.ForeignKey(
        Product, verbose_name=_("product"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(
        _("quantity"), max_digits=12, decimal_places=3, default=Decimal("1"), validators=[MinValueValidator(Decimal("0"))]
    )
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices, default=Unit.PIECE)
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    discount_percent = models.DecimalField(
        _("discount (%)"), max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT_VALIDATORS
    )
    tax_rate = models.DecimalField(
        _("tax rate (%)"), max_digits=5, decimal_places=2, default=Decimal("19.00"), validators=PERCENT_VALIDATORS
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["version", "position", "pk"]
        verbose_name = _("line item")
        verbose_name_plural = _("line items")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0) & models.Q(discount_percent__lte=100),
                name="offerline_discount_0_100",
            ),
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="offerline_price_not_negative"),
        ]

    def __str__(self):
        return self.description


class ResponseKind(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")


class OfferResponse(models.Model):
    """The customer's answer to a sent version: a simple electronic signature or a refusal.

    `document` is the canonical rendering the customer saw and `document_hash` its SHA-256, so
    the record proves which content was accepted even if the offer is superseded later.
    """

    version = models.OneToOneField(
        OfferVersion, verbose_name=_("version"), on_delete=models.PROTECT, related_name="response"
    )
    kind = models.CharField(_("answer"), max_length=8, choices=ResponseKind.choices)
    package = models.ForeignKey(
        OfferPackage, verbose_name=_("chosen package"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=500, blank=True)
    document_hash = models.CharField(_("document SHA-256"), max_length=64, blank=True)
    document = models.TextField(_("document accepted"), blank=True)
    net_total = models.DecimalField(_("net total"), max_digits=14, decimal_places=2, null=True, blank=True)
    gross_total = models.DecimalField(_("gross total"), max_digits=14, decimal_places=2, null=True, blank=True)
    deal_moved = models.BooleanField(_("deal moved to won"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("customer answer")
        verbose_name_plural = _("customer answers")

    def __str__(self):
        return f"{self.version}: {self.get_kind_display()}"


class EventKind(models.TextChoices):
    CREATED = "created", _("Created")
    APPROVAL_REQUESTED = "approval_requested", _("Approval requested")
    APPROVED = "approved", _("Discount approved")
    SENT = "sent", _("Sent")
    VIEWED = "viewed", _("Opened by the customer")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    SUPERSEDED = "superseded", _("Superseded")
    EXPIRED = "expired", _("Expired")


class OfferEvent(models.Model):
    """Append-only history of an offer, shown on the deal's page."""

    version = models.ForeignKey(OfferVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=20, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("by (outside Stageflow)"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("offer event")
        verbose_name_plural = _("offer events")

    def __str__(self):
        return f"{self.version}: {self.kind}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or str(_("system"))


class Notification(models.Model):
    """A note for a Stageflow user about an offer: the customer answered, an approval is wanted."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="offer_notifications"
    )
    version = models.ForeignKey(
        OfferVersion, verbose_name=_("offer version"), on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(_("event"), max_length=20, choices=EventKind.choices)
    message = models.CharField(_("message"), max_length=300)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at"], name="offernotif_recipient_idx")]

    def __str__(self):
        return self.message
