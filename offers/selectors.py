"""Reads that depend on who is asking. Visibility comes from pipeline.selectors: whoever may see
a deal may see its offers; whoever may change the deal may change its offers."""
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from pipeline.models import Deal
from pipeline.selectors import can_change_deal, visible_deals

from .documents import net_values
from .models import Notification, Offer, OfferEvent, OfferVersion, Product, VersionStatus


def visible_versions(user) -> QuerySet[OfferVersion]:
    return OfferVersion.objects.filter(offer__deal__in=visible_deals(user))


def visible_offers(user) -> QuerySet[Offer]:
    return Offer.objects.filter(deal__in=visible_deals(user))


# The offers list shows this many, newest first.
OFFER_LIST_LIMIT = 100


def offer_list(user, *, status: str = "", limit: int = OFFER_LIST_LIMIT) -> list[Offer]:
    """The offers `user` may see, newest first, with their versions (newest first), deal, lead and
    owner. With `status`, only offers that have a version in that status (the list shows every
    version's). Each offer gets `value_version`, the version the list values it by (the accepted
    one, else the newest), and `value`, that version's net value in its currency
    (documents.net_values). Four queries, whatever the number of offers."""
    offers = (
        visible_offers(user)
        .select_related("deal__organization", "deal__owner")
        .prefetch_related(Prefetch("versions", queryset=OfferVersion.objects.select_related("response")))
        .order_by("-created_at", "-pk")
    )
    if status:
        offers = offers.filter(Exists(OfferVersion.objects.filter(offer=OuterRef("pk"), status=status)))
    offers = list(offers[:limit])
    for offer in offers:
        versions = list(offer.versions.all())
        accepted = [version for version in versions if version.status == VersionStatus.ACCEPTED]
        offer.value_version = accepted[0] if accepted else (versions[0] if versions else None)
    values = net_values([offer.value_version for offer in offers if offer.value_version is not None])
    for offer in offers:
        offer.value = values.get(offer.value_version.pk) if offer.value_version else None
    return offers


def can_change_offer(user, version: OfferVersion) -> bool:
    return can_change_deal(user, version.offer.deal)


def approvers_for(deal: Deal) -> QuerySet:
    """Who may approve a discount on this deal: the managers of the owner's team (the team's
    manager and users with the manager role in that team)."""
    User = get_user_model()
    owner = deal.owner
    if not owner.team_id:
        return User.objects.none()
    return User.objects.filter(is_active=True, role="manager").filter(
        Q(team_id=owner.team_id) | Q(managed_teams=owner.team_id)
    ).exclude(pk=owner.pk).distinct()


def admins() -> QuerySet:
    return get_user_model().objects.filter(is_active=True).filter(Q(role="admin") | Q(is_superuser=True))


def can_approve(user, version: OfferVersion) -> bool:
    """A manager of the deal owner's team, or an admin, who neither owns the deal nor wrote or
    sends the offer: nobody approves their own discount."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    deal = version.offer.deal
    if user.pk in {deal.owner_id, version.created_by_id, version.offer.created_by_id}:
        return False
    if user.is_admin:
        return True
    return approvers_for(deal).filter(pk=user.pk).exists()


def deal_offers(*, user, deal: Deal) -> list[Offer]:
    """The deal's offers with their versions, answers and history, for the deal page (4 queries).

    Returns an empty list when the user may not see the deal."""
    if not visible_deals(user).filter(pk=deal.pk).exists():
        return []
    versions = (
        OfferVersion.objects.select_related("approved_by", "sent_by", "response__package")
        .prefetch_related(Prefetch("events", queryset=OfferEvent.objects.select_related("actor")))
        .order_by("-number")
    )
    return list(
        Offer.objects.filter(deal=deal).prefetch_related(Prefetch("versions", queryset=versions)).order_by("-created_at", "-pk")
    )


def active_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).order_by("name")


def unread_notifications(user) -> QuerySet[Notification]:
    return (
        Notification.objects.filter(recipient=user, read_at__isnull=True)
        .select_related("version__offer__deal")
        .order_by("-created_at", "-pk")
    )
