"""Reads of the address book's pages: the organisation and people lists, what the organisation,
person and deal pages show of people and deals, and the organisation and person timelines.

Everything here depends on who asks and is built on pipeline.selectors (visible_organizations,
visible_persons, visible_deals); nothing here writes. Each read runs a fixed number of queries,
however many rows there are, and lists are bounded (tests/pipeline/test_address_book_pages.py
counts them).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils.translation import gettext_lazy as _

from . import extensions
from .extensions import TimelineEntry
from .models import (
    ContactRole, Deal, DealContact, DealStatus, Organization, Person, PersonEmail, PersonPhone, StageChange,
    phone_digits,
)
from .selectors import visible_deals, visible_organizations, visible_persons

# How many entries a timeline shows at first, and how many more each "show more" adds.
TIMELINE_STEP = 20
TIMELINE_MAX = 500
# How many deals of each status and how many people the organisation page lists.
DEALS_PER_STATUS = 25
PEOPLE_ON_PAGE = 50
PERSON_SUGGESTIONS = 20


def timeline_size(value) -> int:
    """The `timeline` query parameter: how many entries to show (a multiple of the step, bounded)."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return TIMELINE_STEP
    return min(max(TIMELINE_STEP, size - size % TIMELINE_STEP), TIMELINE_MAX)


# --- Lists ------------------------------------------------------------------------------------------


def person_search(queryset: QuerySet[Person], q: str) -> QuerySet[Person]:
    """People whose name, one of whose e-mail addresses or one of whose phone numbers contains `q`
    (a phone by its digits: "+49 30 1234" finds "030 1234-5" only by the digits it shares)."""
    q = (q or "").strip()
    if not q:
        return queryset
    match = Q(name__icontains=q) | Q(job_title__icontains=q) | Exists(
        PersonEmail.objects.filter(person_id=OuterRef("pk"), address__icontains=q)
    )
    digits = phone_digits(q)
    if len(digits) >= 3:
        match |= Exists(PersonPhone.objects.filter(person_id=OuterRef("pk"), digits__contains=digits))
    return queryset.filter(match)


def person_list(user, *, q: str = "", organization: Organization | None = None) -> QuerySet[Person]:
    """The people list: visible people, searched, of one organisation when given, by name."""
    people = visible_persons(user)
    if organization is not None:
        people = people.filter(organization=organization)
    return person_search(people, q).select_related("organization", "owner").order_by("name", "pk")


class OrganizationKind:
    ALL = ""
    CUSTOMERS = "customers"
    PROSPECTS = "prospects"
    CHOICES = ((ALL, _("All")), (CUSTOMERS, _("Customers")), (PROSPECTS, _("Prospects")))


def organization_list(user, *, q: str = "", kind: str = "") -> QuerySet[Organization]:
    """The organisations list: every organisation the user may see, customers and prospects, with
    how many people work there, how many of their deals the user sees are open, and whether they
    are a customer (a won deal), in one query."""
    organizations = visible_organizations(user)
    q = (q or "").strip()
    if q:
        organizations = organizations.filter(
            Q(name__icontains=q) | Q(domains__icontains=q) | Q(city__icontains=q) | Q(industry__icontains=q)
        )
    won = Exists(Deal.objects.filter(organization_id=OuterRef("pk"), status=DealStatus.WON))
    if kind == OrganizationKind.CUSTOMERS:
        organizations = organizations.filter(won)
    elif kind == OrganizationKind.PROSPECTS:
        organizations = organizations.exclude(won)
    people = Person.objects.filter(organization_id=OuterRef("pk")).order_by().values("organization_id").annotate(n=Count("pk")).values("n")
    open_deals = (
        visible_deals(user).filter(organization_id=OuterRef("pk"), status=DealStatus.OPEN)
        .order_by().values("organization_id").annotate(n=Count("pk")).values("n")
    )
    return organizations.annotate(
        people_count=Coalesce(Subquery(people, output_field=IntegerField()), Value(0)),
        open_deal_count=Coalesce(Subquery(open_deals, output_field=IntegerField()), Value(0)),
        is_customer=won,
    ).select_related("owner").order_by("name", "pk")


def person_suggestions(user, text: str, *, limit: int = PERSON_SUGGESTIONS) -> list[Person]:
    """People the user may see whose name or e-mail contains `text`, names that start with it
    first: the suggestions of a person field (pipeline:person_lookup)."""
    text = (text or "").strip()
    if not text:
        return []
    people = (
        visible_persons(user).filter(erased_at__isnull=True)
        .filter(Q(name__icontains=text) | Q(email__icontains=text))
        .select_related("organization").only("pk", "name", "email", "organization__name")
    )
    found = list(people.filter(name__istartswith=text).order_by("name", "pk")[:limit])
    if len(found) < limit:
        found += list(people.exclude(pk__in=[p.pk for p in found]).order_by("name", "pk")[: limit - len(found)])
    return found


# --- The organisation page -------------------------------------------------------------------------


@dataclass
class DealGroup:
    """The organisation's deals of one status that the user sees: the first DEALS_PER_STATUS, how
    many there are, and their amounts per currency (never added across currencies)."""

    status: str
    label: str
    count: int = 0
    totals: list[tuple[str, Decimal]] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        return self.count - len(self.deals)


def organization_deal_groups(user, organization: Organization, *, per_status: int = DEALS_PER_STATUS) -> list[DealGroup]:
    """Open, won and lost deals of the organisation that the user sees, in two queries: the counts
    and totals, then the newest `per_status` of each status (a window per status)."""
    deals = visible_deals(user).filter(organization=organization)
    groups = {status: DealGroup(status=status, label=label) for status, label in DealStatus.choices}
    rows = deals.order_by().values_list("status", "currency").annotate(n=Count("pk"), total=Sum("amount")).order_by("status", "currency")
    for status, currency, count, total in rows:
        group = groups[status]
        group.count += count
        if total is not None:
            group.totals.append((currency, total))
    if any(group.count for group in groups.values()):
        ranked = deals.order_by().annotate(
            status_rank=Window(
                RowNumber(), partition_by=[F("status")],
                order_by=[F("closed_at").desc(nulls_first=True), F("stage_entered_at").desc(), F("pk").desc()],
            )
        ).filter(status_rank__lte=per_status).values("pk")
        shown = (
            Deal.objects.filter(pk__in=ranked).select_related("stage", "owner", "lost_reason")
            .order_by(F("closed_at").desc(nulls_first=True), "-stage_entered_at", "-pk")
        )
        for deal in shown:
            groups[deal.status].deals.append(deal)
    return list(groups.values())


def organization_people(user, organization: Organization, *, limit: int = PEOPLE_ON_PAGE) -> tuple[list[Person], int]:
    """The first `limit` people at the organisation (by name) and how many there are, each with
    `deal_roles`: (deal, role) of the organisation's deals the user sees that they are on, and
    `is_main_contact`. Three queries."""
    people_qs = visible_persons(user, queryset=Person.objects.filter(organization=organization))
    total = people_qs.count()
    people = list(people_qs.order_by("name", "pk")[:limit])
    roles = defaultdict(list)
    if people:
        contacts = (
            DealContact.objects.filter(person__in=people, deal__organization=organization, deal__in=visible_deals(user))
            .select_related("deal", "role").order_by("role__position", "deal__title", "pk")
        )
        for contact in contacts:
            roles[contact.person_id].append(contact)
    for person in people:
        person.deal_roles = roles[person.pk]
        person.is_main_contact = person.pk == organization.main_contact_id
    return people, total


def is_customer(organization: Organization) -> bool:
    """A fact about the company: it has a won deal, whoever's it is."""
    return Deal.objects.filter(organization=organization, status=DealStatus.WON).exists()


# --- The person page -----------------------------------------------------------------------------------

PERSON_DEALS_ON_PAGE = 100


def person_deal_contacts(user, person: Person, *, limit: int = PERSON_DEALS_ON_PAGE) -> list[DealContact]:
    """The deals the user sees that the person is on, with their role, open deals first; one query."""
    return list(
        DealContact.objects.filter(person=person, deal__in=visible_deals(user))
        .select_related("deal__stage", "deal__organization", "deal__owner", "role")
        .order_by(
            # open deals first, then the most recently closed
            F("deal__closed_at").desc(nulls_first=True), "-deal__stage_entered_at", "-pk",
        )[:limit]
    )


# --- The deal page -----------------------------------------------------------------------------------


def deal_contacts(deal: Deal) -> list[DealContact]:
    """Who is on the deal, in role order, with what the contacts panel shows; one query. Everyone
    on a deal the user sees is someone they see (visible_persons)."""
    return list(
        DealContact.objects.filter(deal=deal).select_related("person", "role").order_by(
            F("role__position").asc(nulls_last=True), "person__name", "pk",
        )
    )


def deal_contact_candidates(user, deal: Deal, *, limit: int = PEOPLE_ON_PAGE) -> list[Person]:
    """People at the deal's organisation, not yet on the deal, whom the user may add: the quick
    choices of the contacts panel (anyone else is found by typing their name)."""
    return list(
        visible_persons(user, queryset=Person.objects.filter(organization_id=deal.organization_id, erased_at__isnull=True))
        .exclude(deal_contacts__deal=deal).only("pk", "name", "job_title").order_by("name", "pk")[:limit]
    )


def active_contact_roles() -> list[ContactRole]:
    return list(ContactRole.objects.filter(is_active=True).order_by("position", "pk"))


# --- Timelines -------------------------------------------------------------------------------------------


@dataclass
class Timeline:
    entries: list[TimelineEntry]
    has_more: bool
    size: int

    @property
    def next_size(self) -> int:
        return self.size + TIMELINE_STEP


def _newest(entries: list[TimelineEntry], size: int) -> Timeline:
    """The newest `size` of entries from sources that each returned their newest `size + 1` (so
    more than `size` in all means some are left)."""
    entries.sort(key=lambda e: (e.at, e.order, e.row.pk), reverse=True)
    return Timeline(entries=entries[:size], has_more=len(entries) > size, size=size)


def _stage_entries(changes: QuerySet[StageChange], limit: int) -> list[TimelineEntry]:
    rows = changes.select_related("deal", "from_stage", "to_stage", "actor", "lost_reason").order_by("-at", "-pk")[:limit]
    return [TimelineEntry(at=row.at, kind="stage", row=row, order=0) for row in rows]


def organization_timeline(user, organization: Organization, *, size: int = TIMELINE_STEP) -> Timeline:
    """One timeline of the organisation, newest first: its deals' stage changes, people added, and
    what other apps add (done activities and notes, pipeline.extensions). The newest `size`, with
    a fixed number of queries: each source reads at most `size + 1` rows."""
    limit = size + 1
    deals = visible_deals(user).filter(organization=organization)
    entries = _stage_entries(StageChange.objects.filter(deal__in=deals.values("pk")), limit)
    people = visible_persons(user, queryset=Person.objects.filter(organization=organization)).order_by("-created_at", "-pk")[:limit]
    entries += [TimelineEntry(at=person.created_at, kind="person", row=person, order=1) for person in people]
    for source in extensions.organization_timeline_sources():
        entries += source(organization=organization, user=user, limit=limit)
    return _newest(entries, size)


def person_timeline(user, person: Person, *, size: int = TIMELINE_STEP) -> Timeline:
    """One timeline of the person, newest first: when they were added, to which deals (in which
    role), those deals' stage changes, and what other apps add (done activities and notes)."""
    limit = size + 1
    deals = visible_deals(user).filter(contacts__person=person)
    entries = _stage_entries(StageChange.objects.filter(deal__in=deals.values("pk")), limit)
    contacts = (
        DealContact.objects.filter(person=person, deal__in=visible_deals(user).values("pk"))
        .select_related("deal", "role").order_by("-created_at", "-pk")[:limit]
    )
    entries += [TimelineEntry(at=contact.created_at, kind="contact", row=contact, order=1) for contact in contacts]
    entries.append(TimelineEntry(at=person.created_at, kind="person", row=person, order=-1))
    for source in extensions.person_timeline_sources():
        entries += source(person=person, user=user, limit=limit)
    return _newest(entries, size)
