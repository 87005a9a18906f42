"""The lead list: visible leads, filtered and sorted by fit. Also used by the lead export."""
from django.db.models import F, Q, QuerySet

from pipeline.models import Lead
from pipeline.selectors import visible_leads

SORTS = {
    "fit": [F("fit_score").desc(nulls_last=True), "name", "pk"],
    "-fit": [F("fit_score").asc(nulls_first=True), "name", "pk"],
    "name": ["name", "pk"],
    "newest": ["-created_at", "-pk"],
}


def lead_list(
    *, user, q: str = "", industry: str = "", country: str = "", source: str = "", min_score=None, sort: str = "fit"
) -> QuerySet[Lead]:
    qs = visible_leads(user)
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | Q(contact_name__icontains=q) | Q(contact_email__icontains=q)
            | Q(website__icontains=q) | Q(industry__icontains=q)
        )
    if industry:
        qs = qs.filter(industry__iexact=industry)
    if country:
        qs = qs.filter(country__iexact=country)
    if source:
        qs = qs.filter(source=source)
    if min_score is not None:
        qs = qs.filter(fit_score__gte=min_score)
    return qs.select_related("owner").order_by(*SORTS.get(sort, SORTS["fit"]))


def lead_industries(user) -> list[str]:
    """The industries of the leads the user may see, for the filter's choices."""
    return list(
        visible_leads(user).exclude(industry="").order_by("industry").values_list("industry", flat=True).distinct()
    )
