"""Reads that depend on who is asking. Every view, form choice list, filter and export uses these."""
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.db.models import (
    Case, Count, DateField, DecimalField, Exists, ExpressionWrapper, F, FilteredRelation, IntegerField, OuterRef, Q, QuerySet, Sum,
    Value, When, Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils import timezone

from currencies import rates

from . import extensions

from .models import (
    Deal, DealContact, DealStatus, LostReason, OpenStageTotal, Organization, Person, Pipeline, Stage, Transition,
)
from .services import transition_targets


# --- Visibility ---------------------------------------------------------------------------
#
# The one place that decides who sees and changes what. Admins: everything. Managers: their own
# deals and those of the teams they manage or belong to; they may reassign deals within those
# teams. Reps: their own deals, plus (when STAGEFLOW["REPS_SEE_TEAM_DEALS"] is on) their
# teammates' deals read-only. Anonymous and deactivated users: nothing.
#
# Views answer 404 for what the user may not see and 403 for what they may see but not change;
# `deal_for_user_or_404` and `lead_for_user_or_404` do both, for views and the API alike.


def _is_signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def _reps_see_team() -> bool:
    return bool(settings.STAGEFLOW.get("REPS_SEE_TEAM_DEALS", False))


def _managed_team_ids_query(user):
    """A subquery of the teams the manager manages; no query runs until it is used."""
    return user.managed_teams.values("pk")


def _team_ids_managed(user) -> set[int]:
    """The ids of the teams a manager leads or belongs to (one query)."""
    ids = set(user.managed_teams.values_list("pk", flat=True))
    if user.team_id:
        ids.add(user.team_id)
    return ids


def _managed_owner_q(user, prefix: str = "owner__") -> Q:
    """People in the teams a manager leads or belongs to, as a filter on `prefix` + team."""
    q = Q(**{f"{prefix}team_id__in": _managed_team_ids_query(user)})
    if user.team_id:
        q |= Q(**{f"{prefix}team_id": user.team_id})
    return q


def _owner_team_id(obj) -> int | None:
    """The owner's team without a query when the owner is already loaded."""
    if obj.owner_id is None:
        return None
    field = type(obj)._meta.get_field("owner")
    if field.is_cached(obj):
        return obj.owner.team_id
    return get_user_model().objects.filter(pk=obj.owner_id).values_list("team_id", flat=True).first()


def _manages_team(user, team_id: int | None) -> bool:
    if team_id is None:
        return False
    if team_id == user.team_id:
        return True
    return user.managed_teams.filter(pk=team_id).exists()


def _deal_visibility(user) -> Q | bool:
    """Who sees which deals, in one place: the filter visible_deals applies (True: every deal,
    False: none)."""
    if not _is_signed_in(user):
        return False
    if user.is_admin:
        return True
    if user.is_manager:
        return Q(owner_id=user.pk) | _managed_owner_q(user)
    if _reps_see_team() and user.team_id:
        return Q(owner_id=user.pk) | Q(owner__team_id=user.team_id)
    return Q(owner_id=user.pk)


def visible_deals(user, *, queryset: QuerySet[Deal] | None = None) -> QuerySet[Deal]:
    """Deals the user may see: admins all, managers their teams', reps their own (and, when the
    setting allows, their teammates' read-only). `queryset` narrows or decorates the base set."""
    qs = Deal.objects.all() if queryset is None else queryset
    rule = _deal_visibility(user)
    if rule is False:
        return qs.none()
    if rule is True:
        return qs
    return qs.filter(rule)


def deal_to_move(user, *, pk: int, stage: int, queryset: QuerySet[Deal]) -> QuerySet[Deal]:
    """A move's read, one query: deal `pk` from `queryset` if the user may see it, with `stage` as
    `target_stage` when it is a stage of the deal's pipeline (else the attribute is missing)."""
    queryset = queryset.annotate(
        target_stage=FilteredRelation("pipeline__stages", condition=Q(pipeline__stages__pk=stage))
    ).select_related("target_stage")
    return visible_deals(user, queryset=queryset).filter(pk=pk)


def can_change_deal(user, deal: Deal) -> bool:
    """Admins any deal, managers their teams' deals, reps only their own."""
    if not _is_signed_in(user):
        return False
    if user.is_admin or deal.owner_id == user.pk:
        return True
    if user.is_manager:
        return _manages_team(user, _owner_team_id(deal))
    return False


def deal_change_rule(user) -> Callable[[Deal], bool]:
    """can_change_deal for many deals the user can see (visible_deals), without a query per deal:
    a manager sees exactly their teams' deals and may change all of them, an admin every deal, a
    rep only their own (teammates' deals are theirs to read)."""
    if not _is_signed_in(user):
        return lambda deal: False
    if user.is_admin or user.is_manager:
        return lambda deal: True
    return lambda deal: deal.owner_id == user.pk


def can_reassign_deal(user, deal: Deal, new_owner) -> bool:
    """Whether the user may give `deal` to `new_owner`: they must be able to change the deal, and
    the new owner must be someone they may assign (managers: within their teams)."""
    if new_owner is None or not can_change_deal(user, deal):
        return False
    if new_owner.pk == deal.owner_id:
        return True
    return assignable_users(user).filter(pk=new_owner.pk).exists()


def visible_organizations(user, *, queryset: QuerySet[Organization] | None = None) -> QuerySet[Organization]:
    """Leads the user may see: those they (or, for managers, their teams) own, those behind a
    deal they may see, and unowned leads that no deal uses yet (the shared pool)."""
    qs = Organization.objects.all() if queryset is None else queryset
    if not _is_signed_in(user):
        return qs.none()
    if user.is_admin or _shared_address_book():
        return qs
    # Correlated EXISTS rather than IN (subquery): PostgreSQL may then check a few rows (a search's
    # candidates) with index lookups instead of first collecting every visible deal (bench/search.py).
    pool = Q(owner__isnull=True) & ~Exists(Deal.objects.filter(organization_id=OuterRef("pk")))
    behind_visible_deal = Q(Exists(visible_deals(user).filter(organization_id=OuterRef("pk"))))
    q = Q(owner_id=user.pk) | behind_visible_deal | pool
    if user.is_manager:
        q |= _managed_owner_q(user)
    elif _reps_see_team() and user.team_id:
        q |= Q(owner__team_id=user.team_id)
    return qs.filter(q)


def _shared_address_book() -> bool:
    return bool(settings.STAGEFLOW.get("SHARED_ADDRESS_BOOK", False))


def visible_persons(user, *, queryset: QuerySet[Person] | None = None) -> QuerySet[Person]:
    """People (contacts) the user may see: those at an organisation they may see, those on a deal
    they may see, those they (or, for managers, their teams) own, and unowned people at no
    organisation (the shared pool). With STAGEFLOW["SHARED_ADDRESS_BOOK"] on, every signed-in user
    sees every organisation and person (deals keep their own rules)."""
    qs = Person.objects.all() if queryset is None else queryset
    if not _is_signed_in(user):
        return qs.none()
    if user.is_admin or _shared_address_book():
        return qs
    # Correlated EXISTS, as in visible_organizations.
    at_visible_organization = Q(Exists(visible_organizations(user).filter(pk=OuterRef("organization_id"))))
    on_visible_deal = Q(Exists(visible_deals(user).filter(contacts__person_id=OuterRef("pk"))))
    pool = Q(owner__isnull=True, organization__isnull=True)
    q = Q(owner_id=user.pk) | at_visible_organization | on_visible_deal | pool
    if user.is_manager:
        q |= _managed_owner_q(user)
    elif _reps_see_team() and user.team_id:
        q |= Q(owner__team_id=user.team_id)
    return qs.filter(q)


def can_change_person(user, person: Person) -> bool:
    """Admins anyone; owners their own; managers their teams' people; a person without an owner
    whoever may change their organisation (or anyone, for a person at none). An erased person
    stays as erased: nobody changes them."""
    if not _is_signed_in(user) or person.erased_at is not None:
        return False
    if user.is_admin or (person.owner_id is not None and person.owner_id == user.pk):
        return True
    if person.owner_id is None:
        if person.organization_id is None:
            return True
        return can_change_organization(user, person.organization)
    if user.is_manager:
        return _manages_team(user, _owner_team_id(person))
    return False


def person_for_user_or_404(user, pk, *, change: bool = False, queryset: QuerySet[Person] | None = None) -> Person:
    person = _get_or_404(visible_persons(user, queryset=queryset), pk)
    if change and not can_change_person(user, person):
        raise PermissionDenied(_("You can see this person but not change them."))
    return person


def deal_addressee(deal: Deal) -> Person | None:
    """Whom Stageflow writes to about a deal (an offer's link, its signed copy): the deal's contact
    with an e-mail address in the first role of the list (decision maker before champion …), then
    a contact without a role, else the organisation's main contact. One or two queries."""
    contact = (
        DealContact.objects.filter(deal_id=deal.pk, person__erased_at__isnull=True).exclude(person__email="")
        .select_related("person").order_by(F("role__position").asc(nulls_last=True), "pk").first()
    )
    if contact is not None:
        return contact.person
    organization = deal.organization
    if organization.main_contact_id:
        person = organization.main_contact
        return None if person.erased_at else person
    return None


LEAD_SUGGESTIONS = 20


def organization_suggestions(user, text: str, *, limit: int = LEAD_SUGGESTIONS) -> list[Organization]:
    """Leads the user may see whose name contains `text`, names that start with it first."""
    text = (text or "").strip()
    if not text:
        return []
    organizations = visible_organizations(user).filter(name__icontains=text).only("pk", "name", "website")
    starting = list(organizations.filter(name__istartswith=text).order_by("name", "pk")[:limit])
    if len(starting) < limit:
        seen = [organization.pk for organization in starting]
        starting += list(organizations.exclude(pk__in=seen).order_by("name", "pk")[: limit - len(starting)])
    return starting


def can_change_organization(user, organization: Organization) -> bool:
    """Admins any lead; owners theirs; managers their teams' leads. An unowned lead may be changed
    by anyone while no deal uses it, afterwards by whoever may change one of its deals."""
    if not _is_signed_in(user):
        return False
    if user.is_admin or (organization.owner_id is not None and organization.owner_id == user.pk):
        return True
    if organization.owner_id is None:
        deals = Deal.objects.filter(organization_id=organization.pk)
        if not deals.exists():
            return True
        if user.is_manager:
            return deals.filter(Q(owner_id=user.pk) | _managed_owner_q(user)).exists()
        return deals.filter(owner_id=user.pk).exists()
    if user.is_manager:
        return _manages_team(user, _owner_team_id(organization))
    return False


def visible_colleagues(user) -> QuerySet:
    """Everyone whose deals the user may see, people who left included: admins everyone, managers
    themselves and the people of their teams, reps themselves and (when the setting allows) their
    team. Whose notes and activities on a shared organisation one may read (activities.selectors)."""
    qs = get_user_model().objects.all()
    if not _is_signed_in(user):
        return qs.none()
    if user.is_admin:
        return qs
    if user.is_manager:
        return qs.filter(Q(pk=user.pk) | _managed_owner_q(user, prefix=""))
    if _reps_see_team() and user.team_id:
        return qs.filter(Q(pk=user.pk) | Q(team_id=user.team_id))
    return qs.filter(pk=user.pk)


def visible_users(user) -> QuerySet:
    """The active ones of visible_colleagues: the choices of owner filters and owner fields, and the
    API's users endpoint. Nobody outside them is listed, to reps and managers alike."""
    return visible_colleagues(user).filter(is_active=True)


def assignable_users(user) -> QuerySet:
    """People the user may give a deal to: managers the people of their teams, admins anyone
    active, reps only themselves."""
    User = get_user_model()
    if not _is_signed_in(user):
        return User.objects.none()
    if user.is_admin or user.is_manager:
        return visible_users(user)
    return User.objects.filter(pk=user.pk, is_active=True)


def _get_or_404(qs: QuerySet, pk):
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(_("No such %(name)s, or it is not yours to see.") % {"name": qs.model._meta.verbose_name})


def deal_for_user_or_404(user, pk, *, change: bool = False, queryset: QuerySet[Deal] | None = None) -> Deal:
    """The deal if the user may see it (else Http404); with `change=True` also if they may change
    it (else PermissionDenied, a 403). Shared by views and the API."""
    deal = _get_or_404(visible_deals(user, queryset=queryset), pk)
    if change and not can_change_deal(user, deal):
        raise PermissionDenied(_("You can see this deal but not change it."))
    return deal


def organization_for_user_or_404(user, pk, *, change: bool = False, queryset: QuerySet[Organization] | None = None) -> Organization:
    organization = _get_or_404(visible_organizations(user, queryset=queryset), pk)
    if change and not can_change_organization(user, organization):
        raise PermissionDenied(_("You can see this lead but not change it."))
    return organization


def user_for_user_or_404(user, pk):
    """A person whose deals the user may see (for per-person pages such as a rep's forecast)."""
    return _get_or_404(visible_users(user), pk)


def visible_pipelines(user) -> QuerySet[Pipeline]:
    """Pipelines are shared configuration: every signed-in user sees the active ones."""
    if not _is_signed_in(user):
        return Pipeline.objects.none()
    return Pipeline.objects.filter(is_active=True)


# --- The board -----------------------------------------------------------------------------


@dataclass
class CurrencyTotal:
    currency: str
    count: int
    total: Decimal
    weighted: Decimal
    has_amount: bool = True  # False when no deal of this currency has an amount yet


def amount_totals(totals: list[CurrencyTotal]) -> list[CurrencyTotal]:
    """The totals a column header shows: currencies in which some deal has an amount (deals
    without one count in the column, but "$0 · weighted $0" says nothing)."""
    return [t for t in totals if t.has_amount]


@dataclass
class Column:
    stage: Stage
    count: int = 0
    totals: list[CurrencyTotal] = field(default_factory=list)
    cards: list[Deal] = field(default_factory=list)
    converted: "ConvertedTotal | None" = None  # in the reporting currency; None without amounts

    @property
    def has_more(self) -> bool:
        return self.count > len(self.cards)

    @property
    def amount_totals(self) -> list[CurrencyTotal]:
        return amount_totals(self.totals)


def win_probability_expression():
    """A deal's chance of being won, in percent: 100 when it is won, 0 when it is lost, else its
    own override or its stage's probability. Deal.effective_probability is the same rule for one
    deal in memory (tests/pipeline/test_weighted_amount.py holds them together)."""
    return Case(
        When(status=DealStatus.WON, then=Value(100)),
        When(status=DealStatus.LOST, then=Value(0)),
        default=Coalesce(F("probability"), F("stage__probability")),
        output_field=IntegerField(),
    )


def weighted_amount_expression():
    """A deal's weighted amount: amount × win probability / 100 (a won deal counts in full, a lost
    one not at all). The one definition for the board's column totals, the exports, the API and
    the forecast.

    Multiplied by 0.01 rather than divided by 100: SQLite keeps whole decimals as integers and
    would divide them as integers (1,001 × 25 / 100 = 250, not 250.25)."""
    return ExpressionWrapper(
        Coalesce(F("amount"), Value(Decimal("0"))) * win_probability_expression() * Value(Decimal("0.01")),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )


def board_deals(*, user, pipeline: Pipeline, owner_id=None, q: str = "", close_from=None, close_to=None) -> QuerySet[Deal]:
    """The deals on the board: visible, in the pipeline, open or won (won deals sit in the won
    column until their onboarding is complete or WON_DEALS_ON_BOARD_DAYS have passed), filtered
    as the URL says."""
    won_since = timezone.now() - timedelta(days=settings.STAGEFLOW["WON_DEALS_ON_BOARD_DAYS"])
    qs = visible_deals(user).filter(pipeline=pipeline).filter(
        Q(status=DealStatus.OPEN)
        | (
            Q(status=DealStatus.WON, retention_done_at__isnull=True)
            & (Q(closed_at__gte=won_since) | Q(closed_at__isnull=True))
        )
    )
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(organization__name__icontains=q) | Q(organization__main_contact__name__icontains=q))
    if close_from:
        qs = qs.filter(expected_close__gte=close_from)
    if close_to:
        qs = qs.filter(expected_close__lte=close_to)
    return qs


_CENT = Decimal("0.01")


@dataclass
class ConvertedTotal:
    """A column's amounts in the reporting currency (currencies.rates): open deals at today's rate
    (or the year's budget rate), won ones at that of their close date. `needed` is False when every
    amount is in the reporting currency already; `missing` and `warnings` name what could not be
    converted (left out of the figures, never counted as zero)."""

    currency: str
    total: Decimal
    weighted: Decimal
    needed: bool
    shown: bool  # some amount could be converted
    missing: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def stage_totals(
    deals: QuerySet[Deal], *, today=None, won_since=None
) -> tuple[dict[int, list[CurrencyTotal]], dict[int, ConvertedTotal]]:
    """Per stage and currency: count, total and weighted amount (weighted_amount_expression); and
    per stage the same converted into the reporting currency. One GROUP BY query: the sums per
    stage, currency and rate day (today for open deals, the close date for won ones) come back
    with the rates of the days since `won_since` (default: the oldest won deal the board shows,
    WON_DEALS_ON_BOARD_DAYS; an older one has no rate here and is reported as missing), and a
    handful of sums is converted here (currencies.rates)."""
    today = today or timezone.localdate()
    won_since = won_since or today - timedelta(days=settings.STAGEFLOW["WON_DEALS_ON_BOARD_DAYS"])
    rows = _grouped_totals(deals, today=today, won_since=won_since).order_by("stage_id", "currency", "status", "rate_day")
    return _totals_from_rows(rows, today=today)


def _grouped_totals(deals: QuerySet[Deal], *, today, won_since) -> QuerySet:
    """Deals' sums per stage, currency, status and rate day, each row with the rates (stage_totals).
    The columns come in this order: stage_id, currency, status, rate_day, n, total, weighted,
    rates_text (and budget_text); _open_grouped_totals returns the same shape."""
    return (
        deals.order_by()
        .annotate(rate_day=rates.rate_day_expression(today))
        .values("stage_id", "currency", "status", "rate_day")
        .annotate(
            n=Count("pk"), total=Sum("amount"), weighted=Sum(weighted_amount_expression()),
            **rates.rates_annotations(first=won_since, last=today, today=today),
        )
    )  # fmt: skip


def _open_grouped_totals(open_totals: QuerySet[OpenStageTotal], *, today, won_since) -> QuerySet:
    """The rows of _grouped_totals for open deals, from their maintained totals: the same columns
    in the same order, so that the two can be one UNION ALL."""
    return (
        open_totals.order_by()
        .annotate(status=Value(DealStatus.OPEN.value), rate_day=Value(today, output_field=DateField()))
        .values("stage_id", "currency", "status", "rate_day")
        .annotate(
            n=Sum("deals"),
            total=Sum(Case(When(priced__gt=0, then=F("amount")), default=None)),
            weighted=Sum(
                ExpressionWrapper(
                    F("amount_at_stage_probability") * F("stage__probability") * Value(Decimal("0.01")) + F("weighted_own"),
                    output_field=DecimalField(max_digits=24, decimal_places=4),
                )
            ),
            **rates.rates_annotations(first=won_since, last=today, today=today),
        )
    )  # fmt: skip


def board_stage_totals(
    *, user, pipeline, stage_ids=None, today=None, **filters
) -> tuple[dict[int, list[CurrencyTotal]], dict[int, ConvertedTotal]]:
    """stage_totals of the board's deals (board_deals with the same `filters`), in one query whose
    cost does not grow with the number of deals: the open deals' sums come from OpenStageTotal
    (kept by the database on every write), the won deals the board still shows are few and
    summed live, and the two are one UNION ALL. Any filter but the owner (a text search, close
    dates) narrows the deals by what those totals do not hold: then the deals are summed live
    (stage_totals)."""
    today = today or timezone.localdate()
    won_since = today - timedelta(days=settings.STAGEFLOW["WON_DEALS_ON_BOARD_DAYS"])
    deals = board_deals(user=user, pipeline=pipeline, **filters)
    if stage_ids is not None:
        deals = deals.filter(stage_id__in=stage_ids)
    owner_id = filters.get("owner_id")
    if any(value not in (None, "") for name, value in filters.items() if name != "owner_id"):
        return stage_totals(deals, today=today, won_since=won_since)
    open_totals = _visible_open_totals(user).filter(stage__pipeline=pipeline, deals__gt=0)
    if owner_id:
        open_totals = open_totals.filter(owner_id=owner_id)
    if stage_ids is not None:
        open_totals = open_totals.filter(stage_id__in=stage_ids)
    rows = _open_grouped_totals(open_totals, today=today, won_since=won_since).union(
        _grouped_totals(deals.filter(status=DealStatus.WON), today=today, won_since=won_since), all=True
    )
    return _totals_from_rows(rows, today=today)


def _visible_open_totals(user) -> QuerySet[OpenStageTotal]:
    """The OpenStageTotal rows of the owners whose deals the user may see: the visibility rule
    (_deal_visibility) speaks of owners only, so it applies to these rows as it is."""
    rule = _deal_visibility(user)
    if rule is False:
        return OpenStageTotal.objects.none()
    if rule is True:
        return OpenStageTotal.objects.all()
    return OpenStageTotal.objects.filter(rule)


def _totals_from_rows(rows, *, today) -> tuple[dict[int, list[CurrencyTotal]], dict[int, ConvertedTotal]]:
    rules = None
    sums: dict[tuple[int, str], list] = {}
    converted: dict[int, rates.ConvertedSums] = defaultdict(lambda: rates.ConvertedSums(rules.currency))
    for row in rows:
        if rules is None:  # every row carries the same rates
            book = rates.RateBook.from_text(row["rates_text"], row.get("budget_text"), year=today.year)
            rules = rates.Rates(today=today, book=book)
        stage_id, currency, total = row["stage_id"], row["currency"], row["total"]
        cell = sums.setdefault((stage_id, currency), [0, Decimal(0), Decimal(0), False])
        cell[0] += row["n"]
        if total is None:
            continue  # deals without an amount count in the column, and need no rate
        cell[1] += Decimal(total)
        cell[2] += Decimal(row["weighted"] or 0)
        cell[3] = True
        if row["status"] == DealStatus.WON:
            rate, day = rules.for_won(currency, row["rate_day"]), row["rate_day"]
        else:
            rate, day = rules.for_open(currency), rules.open_day()
        converted[stage_id].add(currency, rate, day=day, count=row["n"], total=total, weighted=row["weighted"])
    result: dict[int, list[CurrencyTotal]] = defaultdict(list)
    for (stage_id, currency), (count, total, weighted, has_amount) in sorted(sums.items()):
        result[stage_id].append(
            CurrencyTotal(
                currency=currency,
                count=count,
                total=total.quantize(_CENT),
                weighted=weighted.quantize(_CENT),
                has_amount=has_amount,
            )
        )
    in_reporting = {
        stage_id: ConvertedTotal(
            currency=c.currency, total=c["total"], weighted=c["weighted"], needed=c.needed,
            shown=c.converted_any, missing=c.missing, warnings=c.warnings,
        )
        for stage_id, c in converted.items()
    }  # fmt: skip
    return result, in_reporting


def column_totals(deals: QuerySet[Deal]) -> dict[int, list[CurrencyTotal]]:
    """Per stage and currency: count, total and weighted amount (stage_totals, one query)."""
    return stage_totals(deals)[0]


def organization_is_customer_expression():
    """True when the lead has a won deal (any deal, seen or not: being a customer is a fact
    about the company)."""
    return Exists(Deal.objects.filter(organization_id=OuterRef("organization_id"), status=DealStatus.WON))


def card_queryset(deals: QuerySet[Deal], *, with_stage: bool = True) -> QuerySet[Deal]:
    """Single cards (a move's answer, a new deal, a conflict) with everything they show, in one
    query: the lead, owner and stage, whether the lead is a customer, and what other apps show
    on a card as annotations (pipeline.extensions.register_card_annotation). For one deal these
    subqueries cost less than a query of their own; the board reads many cards with
    board_card_queryset and load_card_data instead."""
    return (
        deals.select_related("organization", "owner", *(["stage"] if with_stage else []))
        .annotate(organization_is_customer=organization_is_customer_expression(), **extensions.card_annotations())
        .order_by("-stage_entered_at", "-pk")
    )


# What a board card shows of the deal, its lead and its owner: the board reads only these columns
# for its hundreds of cards.
BOARD_CARD_FIELDS = (
    "pipeline_id", "stage_id", "organization_id", "owner_id", "title", "amount", "currency", "expected_close", "status",
    "next_step", "stage_entered_at", "rotting_snoozed_until", "version",
    "organization__name", "owner__username", "owner__first_name", "owner__last_name",
)


def board_card_queryset(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    """Cards as the board reads them: BOARD_CARD_FIELDS and whether the lead is a customer, without
    the stage (the board gives each card its column's stage object). What other apps show on the
    cards comes after, with load_card_data."""
    return (
        deals.select_related("organization", "owner")
        .annotate(organization_is_customer=organization_is_customer_expression())
        .only(*BOARD_CARD_FIELDS)
        .order_by("-stage_entered_at", "-pk")
    )


def load_card_data(cards: list[Deal]) -> list[Deal]:
    """Let other apps set what they show on these cards (pipeline.extensions card data loaders):
    one query per app for all the cards of a response, whatever their number."""
    if cards:
        for loader in extensions.card_data_loaders():
            loader(cards)
    return cards


def card_annotation_names() -> list[str]:
    """What card_queryset reads besides the deal and its relations."""
    return ["organization_is_customer", *extensions.card_annotation_names()]


def card(deal_id: int) -> Deal:
    """One card, fresh from the database, with what every card shows."""
    return card_queryset(Deal.objects.filter(pk=deal_id)).get()


def board_cards(deals: QuerySet[Deal], *, per_column: int, stage_ids: list[int] | None = None) -> dict[int, list[Deal]]:
    """The first `per_column` cards of every column in one query, and what other apps show on them.

    Given the columns' `stage_ids`, on a database that can LIMIT the parts of a UNION
    (PostgreSQL), each column's first cards are one LIMITed range of the board's ranking index
    (deal_board_rank_idx), read until the page is full: the query costs the same at ten thousand
    and at a million deals. Otherwise (SQLite, which cannot) a window ranks every visible deal per
    stage, which reads them all."""
    # Pick the narrow deal rows first and join leads and owners only for the winners: joining
    # before picking makes the database carry every candidate through the joins.
    if stage_ids and connections[deals.db].features.supports_slicing_ordering_in_compound:
        firsts = [
            deals.filter(stage_id=stage_id).order_by("-stage_entered_at", "-pk").values("pk")[:per_column]
            for stage_id in stage_ids
        ]
        chosen_ids = firsts[0].union(*firsts[1:], all=True)
    else:
        chosen_ids = (
            deals.order_by()
            .annotate(
                column_rank=Window(
                    RowNumber(), partition_by=[F("stage_id")], order_by=[F("stage_entered_at").desc(), F("pk").desc()]
                )
            )
            .filter(column_rank__lte=per_column)
            .values("pk")
        )
    found = load_card_data(list(board_card_queryset(Deal.objects.filter(pk__in=chosen_ids))))
    cards: dict[int, list[Deal]] = defaultdict(list)
    for deal in found:
        cards[deal.stage_id].append(deal)
    return cards


def board_pipelines(user) -> list[Pipeline]:
    """The pipelines the board offers (visible_pipelines), in menu order, each with its stages in
    board order as `board_stages`, in one query. A pipeline without stages has no board to show
    and is left out."""
    stages = (
        Stage.objects.filter(pipeline__in=visible_pipelines(user))
        .select_related("pipeline")
        .order_by("pipeline__position", "pipeline_id", "position", "pk")
    )
    pipelines: dict[int, Pipeline] = {}
    for stage in stages:
        pipeline = pipelines.setdefault(stage.pipeline_id, stage.pipeline)
        if pipeline is stage.pipeline:
            pipeline.board_stages = []
        stage.pipeline = pipeline  # one object per pipeline
        pipeline.board_stages.append(stage)
    return list(pipelines.values())


def pipeline_transitions(pipeline_id: int) -> list[tuple[int | None, int]]:
    """A pipeline's transition table as (from_stage_id, to_stage_id) pairs."""
    return list(Transition.objects.filter(pipeline_id=pipeline_id).order_by().values_list("from_stage_id", "to_stage_id"))


def active_lost_reasons() -> list[LostReason]:
    """The reasons a deal may be marked lost with, in menu order."""
    return list(LostReason.objects.filter(is_active=True).order_by("position", "pk"))


def board_columns(
    *, stages: list[Stage], deals: QuerySet[Deal], per_column: int | None = None, totals=None
) -> list[Column]:
    """A column per stage (in the order given) with its totals and its first cards. `totals` are
    board_stage_totals' answer for the same deals (without them: stage_totals of `deals`)."""
    per_column = per_column or settings.STAGEFLOW["BOARD_PAGE_SIZE"]
    totals, converted = totals if totals is not None else stage_totals(deals)
    cards = board_cards(deals, per_column=per_column, stage_ids=[stage.pk for stage in stages])
    columns = []
    for stage in stages:
        mine = totals.get(stage.pk, [])
        column = Column(
            stage=stage, count=sum(t.count for t in mine), totals=mine, cards=cards.get(stage.pk, []),
            converted=converted.get(stage.pk),
        )
        for card in column.cards:
            card.stage = stage  # the same object, so per-card properties need no query
        columns.append(column)
    return columns


def column_page(*, stage: Stage, deals: QuerySet[Deal], offset: int, limit: int) -> list[Deal]:
    """Cards of one column after the first `offset`, for "load more"."""
    return load_card_data(list(board_card_queryset(deals.filter(stage=stage))[offset : offset + limit]))


def move_targets(*, pipeline_id: int, stages: list[Stage]) -> dict[int, list[Stage]]:
    """For each of a pipeline's `stages` (all of them, as the board holds them), the stages a deal
    there may move to, in the order given (services.transition_targets), in one query: the board
    has read the stages already."""
    allowed = transition_targets([stage.pk for stage in stages], pipeline_transitions(pipeline_id))
    return {pk: [stage for stage in stages if stage.pk in targets] for pk, targets in allowed.items()}


def pipeline_stages_reachable_from(*, pipeline_id: int, stage_id: int) -> list[Stage]:
    """The stages of a pipeline, each annotated with `reachable`: whether the transition table
    lets a deal in `stage_id` move there, by the rule the board's move targets use
    (services.transition_targets)."""
    stages = list(Stage.objects.filter(pipeline_id=pipeline_id).order_by("position", "pk"))
    reachable = {stage.pk for stage in move_targets(pipeline_id=pipeline_id, stages=stages).get(stage_id, [])}
    for stage in stages:
        stage.reachable = stage.pk in reachable
    return stages


# --- Merges and data-protection requests (pipeline.merging, pipeline.privacy) --------------------


def can_merge_organizations(user, survivor: Organization, merged: Organization) -> bool:
    """A merge changes both records and deletes one: whoever may change both."""
    return can_change_organization(user, survivor) and can_change_organization(user, merged)


def can_merge_persons(user, survivor: Person, merged: Person) -> bool:
    return can_change_person(user, survivor) and can_change_person(user, merged)


def can_handle_data_request(user, person: Person) -> bool:
    """Who exports everything held about a person, or erases their personal data: admins, and
    managers who may change the person (their team's). Reps ask them: the export holds what every
    team wrote about the person (a partial copy fulfils no access request), and an erasure cannot
    be undone, so both stay with people who answer for the data. An erased person's remaining
    record: admins only."""
    if not _is_signed_in(user):
        return False
    if user.is_admin:
        return True
    return user.is_manager and can_change_person(user, person)


# --- The maintained open-deal totals (OpenStageTotal) ------------------------------------------

_TOTAL_FIELDS = ("deals", "priced", "amount", "amount_at_stage_probability", "weighted_own")


def open_stage_totals_recount() -> dict[tuple[int, int, str], tuple]:
    """What OpenStageTotal must hold, counted from the deals themselves (one GROUP BY over every
    open deal: for checks, not for pages). Keys (stage_id, owner_id, currency), values in the
    order of _TOTAL_FIELDS."""
    rows = (
        Deal.objects.filter(status=DealStatus.OPEN).order_by()
        .values("stage_id", "owner_id", "currency")
        .annotate(
            n=Count("pk"),
            priced=Count("amount"),
            total=Coalesce(Sum("amount"), Value(Decimal("0"))),
            at_stage=Coalesce(Sum("amount", filter=Q(probability__isnull=True)), Value(Decimal("0"))),
            own=Coalesce(
                Sum(
                    ExpressionWrapper(
                        F("amount") * F("probability") * Value(Decimal("0.01")),
                        output_field=DecimalField(max_digits=24, decimal_places=4),
                    ),
                    filter=Q(probability__isnull=False),
                ),
                Value(Decimal("0")),
            ),
        )
    )  # fmt: skip
    return {
        (r["stage_id"], r["owner_id"], r["currency"]): (
            r["n"], r["priced"], _cents(r["total"]), _cents(r["at_stage"]), _ten_thousandths(r["own"]),
        )
        for r in rows
    }


def _cents(value) -> Decimal:
    return Decimal(value).quantize(_CENT)


def _ten_thousandths(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.0001"))


def open_stage_totals_drift() -> list[dict]:
    """Where OpenStageTotal and a full recount of the open deals disagree: one entry per stage,
    owner and currency with both values (empty when they agree, as they always should)."""
    stored = {
        (r["stage_id"], r["owner_id"], r["currency"]): (
            r["deals"], r["priced"], _cents(r["amount"]), _cents(r["amount_at_stage_probability"]),
            _ten_thousandths(r["weighted_own"]),
        )
        for r in OpenStageTotal.objects.values("stage_id", "owner_id", "currency", *_TOTAL_FIELDS)
    }  # fmt: skip
    empty = (0, 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.0000"))
    stored = {key: value for key, value in stored.items() if value != empty}  # every deal left: nothing to show
    counted = open_stage_totals_recount()
    drift = []
    for key in sorted(set(stored) | set(counted), key=lambda k: (k[0], k[1], k[2])):
        if stored.get(key) != counted.get(key):
            stage_id, owner_id, currency = key
            drift.append(
                {
                    "stage_id": stage_id, "owner_id": owner_id, "currency": currency,
                    "stored": dict(zip(_TOTAL_FIELDS, stored[key])) if key in stored else None,
                    "counted": dict(zip(_TOTAL_FIELDS, counted[key])) if key in counted else None,
                }
            )  # fmt: skip
    return drift
