"""Every write to offers goes through these functions.

Views check who may see and change the deal (pipeline.selectors); these functions own the
offer's rules: only drafts are edited, discounts above the limit need a manager's approval before
sending, sending creates the customer's link (only its hash is stored), and the customer's answer
is recorded once. Deal changes go through pipeline.services, so the deal's history shows them.

Lock order: an offer version first, then its deal (inside pipeline.services).
"""
import hashlib
import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from pipeline import services as pipeline_services
from pipeline.exceptions import PipelineError
from pipeline.models import Deal, DealStatus, StageKind
from pipeline.selectors import deal_addressee

from . import selectors
from .documents import proposal_canonical, proposal_load, sha256_text
from .events import EmailKind, offer_emails
from .exceptions import LinkUnavailable, OfferError, StaleDocument
from .models import (
    EventKind,
    Notification,
    Offer,
    OfferEvent,
    OfferLine,
    OfferPackage,
    OfferResponse,
    OfferVersion,
    PriceList,
    PriceListItem,
    Product,
    ResponseKind,
    Unit,
    VersionStatus,
)
from .totals import max_discount

TOKEN_BYTES = 32
GERMAN_SPEAKING = {"DE", "AT", "CH", "LI"}
VERSION_TEXT_FIELDS = ("situation", "benefit", "terms", "valid_until", "language")


# --- Helpers -------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256((token or "").encode("utf-8")).hexdigest()


def discount_limit() -> Decimal:
    return Decimal(str(settings.STAGEFLOW.get("OFFER_DISCOUNT_APPROVAL_LIMIT", 15)))


def _stored(text_fn, **params) -> str:
    """A message stored in the database, written in the installation's language."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(text_fn()) % params if params else str(text_fn())


def _check_length(model, field_name: str, value: str) -> None:
    """The model field's max_length is the limit: its form shows the same one."""
    field = model._meta.get_field(field_name)
    if field.max_length is not None and len(value) > field.max_length:
        raise OfferError(
            _("%(field)s may have at most %(limit)s characters (this one has %(length)s).") % {
                "field": capfirst(field.verbose_name), "limit": number_format(field.max_length, force_grouping=True),
                "length": number_format(len(value), force_grouping=True),
            },
            code="too_long",
        )


def _event(version: OfferVersion, kind: str, *, actor=None, actor_label: str = "", note: str = "", at=None) -> OfferEvent:
    return OfferEvent.objects.create(
        version=version, kind=kind, actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label, note=note[:300], at=at or timezone.now(),
    )


def _email_after_commit(kind: str, **payload) -> None:
    """Record an e-mail in the outbox, in the change's transaction; the worker sends it after the
    commit, or, if the broker is away, when it is back. Never delays or fails the change."""
    offer_emails.publish(kind=kind, **payload)


def _notify(*, recipients, version: OfferVersion, kind: str, message: str, email: bool = True) -> None:
    """A notification record per recipient, and (unless email=False) an e-mail each after commit."""
    for recipient in {r.pk: r for r in recipients if r is not None}.values():
        note = Notification.objects.create(recipient=recipient, version=version, kind=kind, message=message[:300])
        if email:
            _email_after_commit(EmailKind.NOTIFICATION, notification_id=note.pk)


def _lock_version(version: OfferVersion | int) -> OfferVersion:
    pk = version.pk if isinstance(version, OfferVersion) else version
    return OfferVersion.objects.select_for_update().select_related("offer__deal__organization", "offer__deal__owner").get(pk=pk)


def _require_editable(version: OfferVersion) -> None:
    if version.status != VersionStatus.DRAFT:
        raise OfferError(
            _("Version %(n)s was sent and can no longer be changed. Create a new version instead.")
            % {"n": version.number},
            code="not_editable",
        )


def _reset_approval(version: OfferVersion) -> None:
    """Any change to prices, discounts or packages needs a fresh approval."""
    if version.approved_by_id or version.approval_requested_at:
        version.approved_by = None
        version.approved_at = None
        version.approved_discount = None
        version.approval_requested_at = None
        version.save(update_fields=["approved_by", "approved_at", "approved_discount", "approval_requested_at", "updated_at"])


def _decimal(value, *, field: str, places: str = "0.01", minimum=Decimal("0"), maximum=None) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", ".")) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise OfferError(_("“%(value)s” is not a number for %(field)s.") % {"value": value, "field": field}, code="invalid")
    if number < minimum or (maximum is not None and number > maximum):
        raise OfferError(_("%(field)s is out of range.") % {"field": field}, code="invalid")
    return number.quantize(Decimal(places))


def default_language(deal: Deal) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    if "de" in codes and (deal.organization.country or "").upper() in GERMAN_SPEAKING:
        return "de"
    return settings.LANGUAGE_CODE if settings.LANGUAGE_CODE in codes else "en"


def product_price(*, product: Product, price_list: PriceList | None, currency: str) -> Decimal:
    """The product's price in the offer's currency: the price list's, else the list price."""
    if price_list is not None and price_list.currency == currency:
        item = PriceListItem.objects.filter(price_list=price_list, product=product).first()
        if item is not None:
            return item.price
    if product.currency != currency:
        raise OfferError(
            _("%(product)s is priced in %(product_currency)s; this offer is in %(currency)s.")
            % {"product": product.name, "product_currency": product.currency, "currency": currency},
            code="currency",
        )
    return product.list_price


# --- Drafting ------------------------------------------------------------------------------


@transaction.atomic
def offer_create(*, deal: Deal, actor, title: str = "", price_list: PriceList | None = None,
                 language: str | None = None) -> OfferVersion:
    """A new offer on the deal with an empty first version (a draft)."""
    if deal.status == DealStatus.LOST:
        raise OfferError(_("This deal is lost. Reopen it before making an offer."), code="lost")
    title = (title or "").strip() or deal.title
    offer = Offer.objects.create(deal=deal, title=title[:200], price_list=price_list, created_by=actor)
    version = OfferVersion.objects.create(
        offer=offer, number=1, language=language or default_language(deal), currency=deal.currency,
        valid_until=timezone.localdate() + timedelta(days=settings.STAGEFLOW.get("OFFER_LINK_DAYS", 30)),
        created_by=actor,
    )
    _event(version, EventKind.CREATED, actor=actor)
    return version


@transaction.atomic
def version_update(*, version: OfferVersion, actor, **data) -> OfferVersion:
    unknown = set(data) - set(VERSION_TEXT_FIELDS)
    if unknown:
        raise TypeError(f"version_update() cannot change {', '.join(sorted(unknown))}")
    locked = _lock_version(version)
    _require_editable(locked)
    if "language" in data and data["language"] not in {code for code, _n in settings.LANGUAGES}:
        raise OfferError(_("Choose English or German."), code="invalid")
    for name, value in data.items():
        if isinstance(value, str):
            _check_length(OfferVersion, name, value.strip())
    for name, value in data.items():
        setattr(locked, name, value.strip() if isinstance(value, str) and name != "language" else value)
    locked.save()
    return locked


@transaction.atomic
def package_add(*, version: OfferVersion, actor, name: str, description: str = "", is_recommended: bool = False) -> OfferPackage:
    locked = _lock_version(version)
    _require_editable(locked)
    name = (name or "").strip()
    if not name:
        raise OfferError(_("A package needs a name."), code="invalid")
    _check_length(OfferPackage, "description", (description or "").strip())
    if is_recommended:
        locked.packages.update(is_recommended=False)
    position = (locked.packages.aggregate(m=Max("position"))["m"] or 0) + 1
    package = OfferPackage.objects.create(
        version=locked, name=name[:100], description=(description or "").strip(), position=position,
        is_recommended=is_recommended,
    )
    _reset_approval(locked)
    return package


@transaction.atomic
def package_remove(*, package: OfferPackage, actor) -> None:
    locked = _lock_version(package.version_id)
    _require_editable(locked)
    package.delete()  # its own lines go with it
    _reset_approval(locked)


@transaction.atomic
def line_add(
    *,
    version: OfferVersion,
    actor,
    product: Product | None = None,
    description: str = "",
    quantity="1",
    unit: str | None = None,
    unit_price=None,
    discount_percent="0",
    tax_rate=None,
    package: OfferPackage | None = None,
) -> OfferLine:
    """Add a line; from a product, its name, unit, price (price list first) and tax rate are the defaults."""
    locked = _lock_version(version)
    _require_editable(locked)
    if package is not None and package.version_id != locked.pk:
        raise OfferError(_("This package belongs to another offer."), code="invalid")
    if product is not None:
        if not product.is_active:
            raise OfferError(_("%(product)s is no longer sold.") % {"product": product.name}, code="inactive")
        description = (description or "").strip() or product.name
        unit = unit or product.unit
        if unit_price in (None, ""):
            unit_price = product_price(product=product, price_list=locked.offer.price_list, currency=locked.currency)
        if tax_rate in (None, ""):
            tax_rate = product.tax_rate
    description = (description or "").strip()
    if not description:
        raise OfferError(_("A line needs a product or a description."), code="invalid")
    if unit_price in (None, ""):
        raise OfferError(_("A line needs a price."), code="invalid")
    line = OfferLine.objects.create(
        version=locked,
        package=package,
        product=product,
        description=description[:300],
        quantity=_decimal(quantity, field=_("quantity"), places="0.001"),
        unit=unit if unit in Unit.values else Unit.PIECE,
        unit_price=_decimal(unit_price, field=_("unit price")),
        discount_percent=_decimal(discount_percent or "0", field=_("discount"), maximum=Decimal("100")),
        tax_rate=_decimal(tax_rate if tax_rate not in (None, "") else "19", field=_("tax rate"), maximum=Decimal("100")),
        position=(locked.lines.aggregate(m=Max("position"))["m"] or 0) + 1,
    )
    _reset_approval(locked)
    return line


@transaction.atomic
def line_update(*, line: OfferLine, actor, quantity=None, unit_price=None, discount_percent=None, tax_rate=None,
                description=None) -> OfferLine:
    locked = _lock_version(line.version_id)
    _require_editable(locked)
    line = OfferLine.objects.get(pk=line.pk)
    if description is not None and description.strip():
        line.description = description.strip()[:300]
    if quantity is not None:
        line.quantity = _decimal(quantity, field=_("quantity"), places="0.001")
    if unit_price is not None:
        line.unit_price = _decimal(unit_price, field=_("unit price"))
    if discount_percent is not None:
        line.discount_percent = _decimal(discount_percent, field=_("discount"), maximum=Decimal("100"))
    if tax_rate is not None:
        line.tax_rate = _decimal(tax_rate, field=_("tax rate"), maximum=Decimal("100"))
    line.save()
    _reset_approval(locked)
    return line


@transaction.atomic
def line_remove(*, line: OfferLine, actor) -> None:
    locked = _lock_version(line.version_id)
    _require_editable(locked)
    line.delete()
    _reset_approval(locked)


# --- Approval ------------------------------------------------------------------------------


def approval_needed(version: OfferVersion) -> bool:
    """True while the highest line discount is above the limit and no manager approved it."""
    highest = max_discount(version.lines.all())
    if highest <= discount_limit():
        return False
    return not (version.approved_by_id and version.approved_discount is not None and version.approved_discount >= highest)


@transaction.atomic
def offer_request_approval(*, version: OfferVersion, actor) -> OfferVersion:
    locked = _lock_version(version)
    _require_editable(locked)
    if not approval_needed(locked):
        raise OfferError(_("This offer needs no approval."), code="no_approval_needed")
    locked.approval_requested_at = timezone.now()
    locked.save(update_fields=["approval_requested_at", "updated_at"])
    highest = max_discount(locked.lines.all())
    _event(locked, EventKind.APPROVAL_REQUESTED, actor=actor, note=f"{highest} %")
    message = _stored(
        lambda: _("%(who)s asks you to approve a %(discount)s %% discount on %(offer)s (%(deal)s)."),
        who=str(actor), discount=highest, offer=str(locked), deal=locked.offer.deal.title,
    )
    # The team's managers decide; a team without one falls back to the admins.
    approvers = list(selectors.approvers_for(locked.offer.deal)) or [
        admin for admin in selectors.admins() if selectors.can_approve(admin, locked)
    ]
    if not approvers:
        raise OfferError(_("Nobody can approve this discount: the team has no manager. Ask an admin."),
                         code="no_approver")
    _notify(recipients=approvers, version=locked, kind=EventKind.APPROVAL_REQUESTED, message=message)
    return locked


@transaction.atomic
def offer_approve(*, version: OfferVersion, approver) -> OfferVersion:
    """A manager of the deal owner's team (or an admin) approves the current discounts."""
    locked = _lock_version(version)
    _require_editable(locked)
    if not selectors.can_approve(approver, locked):
        raise OfferError(
            _("Only a manager of the deal owner's team can approve this discount, and never on their own offer."),
            code="not_approver",
        )
    highest = max_discount(locked.lines.all())
    locked.approved_by = approver
    locked.approved_at = timezone.now()
    locked.approved_discount = highest
    locked.save(update_fields=["approved_by", "approved_at", "approved_discount", "updated_at"])
    _event(locked, EventKind.APPROVED, actor=approver, note=f"{highest} %")
    message = _stored(lambda: _("%(who)s approved the discounts of %(offer)s."), who=str(approver), offer=str(locked))
    _notify(recipients=[locked.created_by, locked.offer.deal.owner], version=locked, kind=EventKind.APPROVED,
            message=message)
    return locked


# --- Sending, withdrawing, new versions ----------------------------------------------------


def public_path(token: str) -> str:
    return reverse("offers_public:offer", args=[token])


def _link_expiry(version: OfferVersion, now: datetime) -> datetime:
    days = settings.STAGEFLOW.get("OFFER_LINK_DAYS", 30)
    expires = now + timedelta(days=days)
    if version.valid_until:
        end_of_validity = timezone.make_aware(datetime.combine(version.valid_until + timedelta(days=1), time.min))
        expires = min(expires, end_of_validity)
    return expires


def _sync_deal_amount(
    *, deal: Deal, amount: Decimal, currency: str, actor, actor_label: str = "", note: str = "", **changes
) -> None:
    """The deal's amount follows the accepted (else the latest sent) offer, through deal_update,
    so DealChange records it, with `note` saying which offer, and forecasts see when the value
    changed."""
    pipeline_services.deal_update(
        deal=deal, actor=actor, actor_label=actor_label, note=note, amount=amount, currency=currency, **changes
    )


def _money_stored(amount: Decimal | None, currency: str) -> str:
    """An amount as the installation's language writes it, for a stored message."""
    if amount is None:
        return "—"
    with translation.override(settings.LANGUAGE_CODE):
        return f"{number_format(amount, 2, use_l10n=True, force_grouping=True)} {currency}"


@transaction.atomic
def offer_send(*, version: OfferVersion, actor, base_url: str = "") -> tuple[OfferVersion, str]:
    """Freeze the version, create the customer's link and e-mail it. Returns the version and the
    raw token, which is shown once and never stored."""
    locked = _lock_version(version)
    _require_editable(locked)
    deal = locked.offer.deal
    if deal.status == DealStatus.LOST:
        raise OfferError(_("This deal is lost. Reopen it before sending an offer."), code="lost")
    proposal = proposal_load(locked)
    if not proposal.common_lines and not any(p.lines for p in proposal.packages):
        raise OfferError(_("Add at least one line before sending."), code="empty")
    if proposal.packages and any(not p.lines and not proposal.common_lines for p in proposal.packages):
        raise OfferError(_("Every package needs at least one line."), code="empty_package")
    today = timezone.localdate()
    if locked.valid_until and locked.valid_until < today:
        raise OfferError(_("The validity date lies in the past."), code="expired")
    if approval_needed(locked):
        raise OfferError(
            _("A discount above %(limit)s %% needs a manager's approval before this offer can be sent.")
            % {"limit": discount_limit()},
            code="approval_required",
        )
    now = timezone.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    # Earlier sent versions of this offer stop working: the customer answers the newest one.
    for older in OfferVersion.objects.select_for_update().filter(offer=locked.offer, status=VersionStatus.SENT).exclude(pk=locked.pk):
        older.status = VersionStatus.SUPERSEDED
        older.closed_at = now
        older.save(update_fields=["status", "closed_at", "updated_at"])
        _event(older, EventKind.SUPERSEDED, actor=actor, note=str(locked))
    locked.status = VersionStatus.SENT
    locked.sent_title = locked.offer.title
    locked.sent_customer = deal.organization.name
    addressee = deal_addressee(deal)
    locked.sent_contact = addressee.name if addressee else ""
    locked.sent_seller = settings.STAGEFLOW.get("COMPANY_NAME", "")
    locked.sent_at = now
    locked.sent_by = actor
    locked.token_hash = token_hash(token)
    locked.token_expires_at = _link_expiry(locked, now)
    locked.document_hash = sha256_text(proposal_canonical(proposal))
    locked.save()
    _event(locked, EventKind.SENT, actor=actor)

    has_accepted = OfferVersion.objects.filter(offer__deal=deal, status=VersionStatus.ACCEPTED).exists()
    if not has_accepted:
        _sync_deal_amount(
            deal=deal, amount=proposal.totals_for().net, currency=locked.currency, actor=actor,
            note=_stored(lambda: _("Follows the sent offer %(offer)s."), offer=str(locked)),
        )

    url = f"{base_url.rstrip('/')}{public_path(token)}"
    _email_after_commit(EmailKind.LINK, version_id=locked.pk, url=url)
    return locked, token


@transaction.atomic
def offer_resend(*, version: OfferVersion, actor, base_url: str = "") -> tuple[OfferVersion, str]:
    """A new link for a sent version (the customer lost the e-mail, or it went to the wrong
    person). The document stays the same; the old link stops working."""
    locked = _lock_version(version)
    if locked.status != VersionStatus.SENT:
        raise OfferError(_("Only a sent offer can be sent again."), code="not_sent")
    now = timezone.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    locked.token_hash = token_hash(token)
    locked.token_expires_at = _link_expiry(locked, now)
    locked.save(update_fields=["token_hash", "token_expires_at", "updated_at"])
    _event(locked, EventKind.SENT, actor=actor, note=_stored(lambda: _("new link")))
    _email_after_commit(EmailKind.LINK, version_id=locked.pk, url=f"{base_url.rstrip('/')}{public_path(token)}")
    return locked, token


@transaction.atomic
def offer_withdraw(*, version: OfferVersion, actor) -> OfferVersion:
    locked = _lock_version(version)
    if locked.status != VersionStatus.SENT:
        raise OfferError(_("Only a sent offer can be withdrawn."), code="not_sent")
    locked.status = VersionStatus.WITHDRAWN
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "closed_at", "updated_at"])
    _event(locked, EventKind.WITHDRAWN, actor=actor)
    return locked


@transaction.atomic
def offer_revise(*, version: OfferVersion, actor) -> OfferVersion:
    """A new draft version copied from `version`. Sent and accepted versions stay as they are;
    sending the new version supersedes the sent one."""
    locked = _lock_version(version)
    existing = locked.offer.versions.filter(status=VersionStatus.DRAFT).first()
    if existing is not None:
        return existing
    number = (locked.offer.versions.aggregate(m=Max("number"))["m"] or 0) + 1
    new = OfferVersion.objects.create(
        offer=locked.offer, number=number, language=locked.language, currency=locked.currency,
        situation=locked.situation, benefit=locked.benefit, terms=locked.terms,
        valid_until=max(locked.valid_until or timezone.localdate(), timezone.localdate()), created_by=actor,
    )
    package_map = {}
    for package in locked.packages.all():
        package_map[package.pk] = OfferPackage.objects.create(
            version=new, name=package.name, description=package.description, position=package.position,
            is_recommended=package.is_recommended,
        )
    OfferLine.objects.bulk_create(
        OfferLine(
            version=new, package=package_map.get(line.package_id), product_id=line.product_id,
            description=line.description, quantity=line.quantity, unit=line.unit, unit_price=line.unit_price,
            discount_percent=line.discount_percent, tax_rate=line.tax_rate, position=line.position,
        )
        for line in locked.lines.all()
    )
    _event(new, EventKind.CREATED, actor=actor, note=_stored(lambda: _("from version %(n)s"), n=locked.number))
    return new


# --- The customer's side -------------------------------------------------------------------


def version_for_token(token: str) -> OfferVersion | None:
    """The version behind a link, whatever its state (None when no version has this token)."""
    if not token or len(token) > 200:
        return None
    return (
        OfferVersion.objects.select_related("offer__deal__organization", "offer__deal__owner", "response")
        .filter(token_hash=token_hash(token))
        .first()
    )


def link_check(version: OfferVersion | None, *, now=None) -> None:
    """Raise LinkUnavailable unless the link can still be answered."""
    now = now or timezone.now()
    if version is None:
        raise LinkUnavailable(_("This link is not valid."), code="unknown")
    if version.status in (VersionStatus.ACCEPTED, VersionStatus.DECLINED):
        raise LinkUnavailable(_("This offer has already been answered."), code="answered")
    if version.status in (VersionStatus.WITHDRAWN, VersionStatus.SUPERSEDED):
        raise LinkUnavailable(_("This offer was withdrawn or replaced by a newer one."), code="withdrawn")
    if version.status == VersionStatus.EXPIRED or (version.token_expires_at and version.token_expires_at <= now):
        raise LinkUnavailable(_("This link has expired."), code="expired")
    if version.status != VersionStatus.SENT:
        raise LinkUnavailable(_("This link is not valid."), code="unknown")


def offer_viewed(*, version: OfferVersion) -> None:
    """Record the customer's first visit (once) and tell the owner, without an e-mail."""
    if OfferEvent.objects.filter(version=version, kind=EventKind.VIEWED).exists():
        return
    with transaction.atomic():
        _event(version, EventKind.VIEWED, actor_label=_stored(lambda: _("Customer")))
        message = _stored(lambda: _("The customer opened %(offer)s (%(deal)s)."), offer=str(version),
                          deal=version.offer.deal.title)
        _notify(recipients=[version.offer.deal.owner], version=version, kind=EventKind.VIEWED, message=message,
                email=False)


def _customer_label(name: str, how) -> str:
    return _stored(how, name=name)


def _lock_by_token(token: str) -> OfferVersion | None:
    if not token or len(token) > 200:
        return None
    return (
        OfferVersion.objects.select_for_update()
        .select_related("offer__deal__organization", "offer__deal__owner")
        .filter(token_hash=token_hash(token))
        .first()
    )


def _check_document(version: OfferVersion, proposal, document_hash: str) -> str:
    current = sha256_text(proposal_canonical(proposal))
    if not document_hash or not secrets.compare_digest(document_hash, current) or current != version.document_hash:
        raise StaleDocument(
            _("This offer has changed since it was opened. Please read the current version and answer again."),
            code="stale",
        )
    return current


@transaction.atomic
def offer_accept(
    *, token: str, name: str, document_hash: str, package_id=None, ip_address: str | None = None,
    user_agent: str = "", at: datetime | None = None,
) -> tuple[OfferResponse, bool]:
    """The customer accepts. Returns (response, created). A second submission of the same link –
    a double click, a retry – finds the row lock released on an accepted version and returns the
    first answer unchanged, so the deal moves exactly once."""
    name = " ".join((name or "").split())[:200]
    locked = _lock_by_token(token)
    if locked is not None and locked.status == VersionStatus.ACCEPTED:
        return locked.response, False
    link_check(locked)
    if not name:
        raise OfferError(_("Please type your name to accept."), code="name_required")
    proposal = proposal_load(locked)
    package_view = None
    if proposal.packages:
        try:
            package_view = proposal.package_view(int(package_id)) if package_id not in (None, "") else None
        except (TypeError, ValueError):
            package_view = None
        if package_view is None:
            raise OfferError(_("Please choose a package."), code="package_required")
    current = _check_document(locked, proposal, document_hash)
    totals = package_view.totals if package_view else proposal.totals
    now = at or timezone.now()
    label = _customer_label(name, lambda: _("Customer: %(name)s (online acceptance)"))

    response = OfferResponse.objects.create(
        version=locked, kind=ResponseKind.ACCEPTED, package=package_view.package if package_view else None,
        name=name, at=now, ip_address=ip_address or None, user_agent=(user_agent or "")[:500],
        document_hash=current, document=proposal_canonical(proposal), net_total=totals.net, gross_total=totals.gross,
    )
    locked.status = VersionStatus.ACCEPTED
    locked.closed_at = now
    locked.save(update_fields=["status", "closed_at", "updated_at"])
    _event(locked, EventKind.ACCEPTED, actor_label=label, at=now,
           note=package_view.package.name if package_view else "")
    # An accepted version replaces an earlier accepted one of the same offer.
    for older in OfferVersion.objects.filter(offer=locked.offer, status=VersionStatus.ACCEPTED).exclude(pk=locked.pk):
        older.status = VersionStatus.SUPERSEDED
        older.save(update_fields=["status", "updated_at"])
        _event(older, EventKind.SUPERSEDED, actor_label=label, note=str(locked))

    deal = locked.offer.deal
    before = (deal.amount, deal.currency)
    if package_view:
        amount_note = _stored(
            lambda: _("Follows the accepted offer %(offer)s, package “%(package)s”."),
            offer=str(locked), package=package_view.package.name,
        )
    else:
        amount_note = _stored(lambda: _("Follows the accepted offer %(offer)s."), offer=str(locked))
    moved, problem = _win_deal(
        deal=deal, amount=totals.net, currency=locked.currency, label=label, note=amount_note
    )
    response.deal_moved = moved
    response.note = problem[:300]
    response.save(update_fields=["deal_moved", "note"])

    after = Deal.objects.values_list("amount", "currency").get(pk=deal.pk)
    if moved:
        message = _stored(
            lambda: _("%(name)s accepted %(offer)s online; “%(deal)s” is won."),
            name=name, offer=str(locked), deal=deal.title,
        )
    else:
        message = _stored(
            lambda: _("%(name)s accepted %(offer)s online, but “%(deal)s” could not be moved to won: %(problem)s"),
            name=name, offer=str(locked), deal=deal.title, problem=problem,
        )
    if after != before:
        # The owner forecast the old value: say that it changed, and to what.
        message += " " + _stored(
            lambda: _("Its amount changed from %(old)s to %(new)s."),
            old=_money_stored(*before), new=_money_stored(*after),
        )
    _notify(recipients=[deal.owner], version=locked, kind=EventKind.ACCEPTED, message=message)
    _email_after_commit(EmailKind.ACCEPTED_COPY, version_id=locked.pk)
    return response, True


def _win_deal(*, deal: Deal, amount: Decimal, currency: str, label: str, note: str = "") -> tuple[bool, str]:
    """Set the deal's amount from the accepted offer and move it to the pipeline's won stage.

    The customer's signature is a fact: the acceptance is recorded even if the pipeline refuses
    the move. The usual refusal is a missing expected close date, which the won stage requires
    for forecasting. A signed offer means the deal closes today, so an empty expected close is set
    to today (through deal_update, so DealChange shows who and why) rather than leaving a signed
    deal open. Anything else the rules refuse (no transition into the won stage, a lost deal, a
    missing contact) is left to the owner, who is told why.
    """
    won_stage = deal.pipeline.stages.filter(kind=StageKind.WON).order_by("position", "pk").first()
    try:
        changes = {"amount": amount, "currency": currency}
        if deal.expected_close is None:
            changes["expected_close"] = timezone.localdate()
        with transaction.atomic():
            _sync_deal_amount(deal=deal, actor=None, actor_label=label, note=note, **changes)
        if won_stage is None:
            return False, _stored(lambda: _("the pipeline has no won stage"))
        if deal.status == DealStatus.WON and deal.stage_id == won_stage.pk:
            return True, ""
        with transaction.atomic():
            pipeline_services.deal_move(deal=deal, to_stage=won_stage, actor=None, actor_label=label)
        return True, ""
    except PipelineError as refused:
        with translation.override(settings.LANGUAGE_CODE):
            return False, str(refused.message)


@transaction.atomic
def offer_decline(
    *, token: str, reason: str, name: str = "", ip_address: str | None = None, user_agent: str = "",
    at: datetime | None = None,
) -> tuple[OfferResponse, bool]:
    """The customer declines with a reason. The deal does not move; the owner is told."""
    reason = (reason or "").strip()
    name = " ".join((name or "").split())[:200]
    locked = _lock_by_token(token)
    if locked is not None and locked.status == VersionStatus.DECLINED:
        return locked.response, False
    link_check(locked)
    if not reason:
        raise OfferError(_("Please tell us why you decline."), code="reason_required")
    now = at or timezone.now()
    proposal = proposal_load(locked)
    document = proposal_canonical(proposal)
    response = OfferResponse.objects.create(
        version=locked, kind=ResponseKind.DECLINED, name=name, reason=reason[:2000], at=now,
        ip_address=ip_address or None, user_agent=(user_agent or "")[:500],
        document_hash=sha256_text(document), document=document,
    )
    locked.status = VersionStatus.DECLINED
    locked.closed_at = now
    locked.save(update_fields=["status", "closed_at", "updated_at"])
    who = name or _stored(lambda: _("The customer"))
    label = _customer_label(who, lambda: _("Customer: %(name)s (online)"))
    _event(locked, EventKind.DECLINED, actor_label=label, at=now, note=reason)
    deal = locked.offer.deal
    message = _stored(
        lambda: _("%(name)s declined %(offer)s (%(deal)s): %(reason)s"),
        name=who, offer=str(locked), deal=deal.title, reason=reason[:150],
    )
    _notify(recipients=[deal.owner], version=locked, kind=EventKind.DECLINED, message=message)
    return response, True


# --- Housekeeping --------------------------------------------------------------------------

EXPIRE_BATCH_SIZE = 500


def offers_expire(*, now: datetime | None = None) -> int:
    """Mark sent versions whose link ran out as expired. Safe to run twice."""
    now = now or timezone.now()
    count = 0
    ids = list(
        OfferVersion.objects.filter(status=VersionStatus.SENT, token_expires_at__lte=now)
        .order_by("pk").values_list("pk", flat=True)[:EXPIRE_BATCH_SIZE]
    )
    for pk in ids:
        with transaction.atomic():
            locked = _lock_version(pk)
            if locked.status != VersionStatus.SENT:
                continue
            locked.status = VersionStatus.EXPIRED
            locked.closed_at = now
            locked.save(update_fields=["status", "closed_at", "updated_at"])
            _event(locked, EventKind.EXPIRED)
            count += 1
    return count


def notifications_mark_read(*, user, ids=None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
