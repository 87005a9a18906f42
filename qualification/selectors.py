"""The lead list: visible leads, filtered and sorted by fit. Also used by the lead export."""
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from pipeline.models import Deal, DealStatus, Organization
from pipeline.selectors import visible_deals, visible_organizations

SORTS = {
    "fit": [F("fit_score").desc(nulls_last=True), "name", "pk"],
    "-fit": [F("fit_score").asc(nulls_first=True), "name", "pk"],
    "name": ["name", "pk"],
    "newest": ["-created_at", "-pk"],
}


def organization_list(
    *, user, q: str = "", industry: str = "", country: str = "", source: str = "", min_score=None, owner=None,
    sort: str = "fit", show: str = "leads",
) -> QuerySet[Organization]:
    """The organisations `user` may see — leads (no deal won yet) unless `show` is "customers" or
    "all" — filtered, sorted, with their open deals (of those the user may see) counted and whether
    they are customers (a won deal), all in one query."""
    qs = visible_organizations(user)
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | Q(main_contact__name__icontains=q) | Q(main_contact__email__icontains=q)
            | Q(website__icontains=q) | Q(domains__icontains=q) | Q(industry__icontains=q)
        )
    if industry:
        qs = qs.filter(industry__iexact=industry)
    if country:
        qs = qs.filter(country__iexact=country)
    if source:
        qs = qs.filter(source=source)
    if min_score is not None:
        qs = qs.filter(fit_score__gte=min_score)
    if owner is not None:
        qs = qs.filter(owner_id=owner)
    qs = qs.annotate(
        open_deals=Count(
            "deals", filter=Q(deals__in=visible_deals(user).values("pk"), deals__status=DealStatus.OPEN), distinct=True
        ),
        is_customer=Exists(Deal.objects.filter(organization_id=OuterRef("pk"), status=DealStatus.WON)),
    )
    if show == "leads":
        qs = qs.filter(is_customer=False)
    elif show == "customers":
        qs = qs.filter(is_customer=True)
    return qs.select_related("owner", "main_contact").order_by(*SORTS.get(sort, SORTS["fit"]))


def organization_owners(user) -> list:
    """The people who own leads the user may see, for the owner filter."""
    owner_ids = visible_organizations(user).exclude(owner=None).values("owner_id")
    return list(get_user_model().objects.filter(pk__in=owner_ids).order_by("first_name", "last_name", "username"))


def organization_industries(user) -> list[str]:
    """The industries of the leads the user may see, for the filter's choices."""
    return list(
        visible_organizations(user).exclude(industry="").order_by("industry").values_list("industry", flat=True).distinct()
    )
