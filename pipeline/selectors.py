"""Reads that depend on who is asking. Every view, form choice list, filter and export uses these."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from . import extensions

from .models import Deal, DealStatus, Lead, Pipeline, Stage, Transition


# --- Visibility ---------------------------------------------------------------------------


def _team_ids_managed(user) -> set[int]:
    ids = set(user.managed_teams.values_list("pk", flat=True))
    if user.team_id:
        ids.add(user.team_id)
    return ids


def visible_deals(user) -> QuerySet[Deal]:
    """Deals the user may see: admins all, managers their teams', reps their own (and, when the
    setting allows, their teammates' read-only)."""
    qs = Deal.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_admin:
        return qs
    if user.is_manager:
        teams = _team_ids_managed(user)
        return qs.filter(Q(owner=user) | Q(owner__team_id__in=teams))
    if settings.STAGEFLOW["REPS_SEE_TEAM_DEALS"] and user.team_id:
        return qs.filter(Q(owner=user) | Q(owner__team_id=user.team_id))
    return qs.filter(owner=user)


def can_change_deal(user, deal: Deal) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_admin or deal.owner_id == user.pk:
        return True
    if user.is_manager:
        owner_team = get_user_model().objects.filter(pk=deal.owner_id).values_list("team_id", flat=True).first()
        return owner_team is not None and owner_team in _team_ids_managed(user)
    return False


def visible_leads(user) -> QuerySet[Lead]:
    """Leads the user may see: those they own and those behind a deal they may see."""
    qs = Lead.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_admin:
        return qs
    deal_lead_ids = visible_deals(user).values("lead_id")
    if user.is_manager:
        teams = _team_ids_managed(user)
        return qs.filter(Q(owner=user) | Q(owner__team_id__in=teams) | Q(pk__in=deal_lead_ids) | Q(owner__isnull=True))
    return qs.filter(Q(owner=user) | Q(pk__in=deal_lead_ids) | Q(owner__isnull=True))


def can_change_lead(user, lead: Lead) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_admin or lead.owner_id in (None, user.pk):
        return True
    if user.is_manager:
        owner_team = get_user_model().objects.filter(pk=lead.owner_id).values_list("team_id", flat=True).first()
        return owner_team is not None and owner_team in _team_ids_managed(user)
    return False


def visible_users(user) -> QuerySet:
    """People whose deals the user may see: the choices of owner filters and owner fields."""
    User = get_user_model()
    qs = User.objects.filter(is_active=True)
    if user.is_admin:
        return qs
    if user.is_manager:
        return qs.filter(Q(pk=user.pk) | Q(team_id__in=_team_ids_managed(user)))
    if settings.STAGEFLOW["REPS_SEE_TEAM_DEALS"] and user.team_id:
        return qs.filter(Q(pk=user.pk) | Q(team_id=user.team_id))
    return qs.filter(pk=user.pk)


def assignable_users(user) -> QuerySet:
    """People the user may give a deal to: managers and admins their visible people, reps themselves."""
    User = get_user_model()
    if user.is_admin or user.is_manager:
        return visible_users(user)
    return User.objects.filter(pk=user.pk)


def visible_pipelines(user) -> QuerySet[Pipeline]:
    return Pipeline.objects.filter(is_active=True)


# --- The board -----------------------------------------------------------------------------


@dataclass
class CurrencyTotal:
    currency: str
    count: int
    total: Decimal
    weighted: Decimal


@dataclass
class Column:
    stage: Stage
    count: int = 0
    totals: list[CurrencyTotal] = field(default_factory=list)
    cards: list[Deal] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.count > len(self.cards)


def weighted_amount_expression():
    """amount × probability / 100 with the deal's override or the stage's probability."""
    return ExpressionWrapper(
        Coalesce(F("amount"), Value(Decimal("0")))
        * Coalesce(F("probability"), F("stage__probability"))
        / Value(Decimal("100")),
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
        qs = qs.filter(Q(title__icontains=q) | Q(lead__name__icontains=q) | Q(lead__contact_name__icontains=q))
    if close_from:
        qs = qs.filter(expected_close__gte=close_from)
    if close_to:
        qs = qs.filter(expected_close__lte=close_to)
    return qs


def column_totals(deals: QuerySet[Deal]) -> dict[int, list[CurrencyTotal]]:
    """Per stage and currency: count, total and weighted amount, in one GROUP BY query."""
    rows = (
        deals.order_by()
        .values("stage_id", "currency")
        .annotate(
            n=Count("pk"),
            total=Coalesce(Sum("amount"), Value(Decimal("0"))),
            weighted=Coalesce(Sum(weighted_amount_expression()), Value(Decimal("0"))),
        )
        .order_by("stage_id", "currency")
    )
    result: dict[int, list[CurrencyTotal]] = defaultdict(list)
    for row in rows:
        result[row["stage_id"]].append(
            CurrencyTotal(
                currency=row["currency"],
                count=row["n"],
                total=Decimal(row["total"]).quantize(Decimal("0.01")),
                weighted=Decimal(row["weighted"]).quantize(Decimal("0.01")),
            )
        )
    return result


def lead_is_customer_expression():
    """True when the lead has a won deal (any deal, seen or not: being a customer is a fact
    about the company)."""
    return Exists(Deal.objects.filter(lead_id=OuterRef("lead_id"), status=DealStatus.WON))


def card_queryset(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    """Cards with everything they show, in one query: the lead, owner and stage, whether the
    lead is a customer, and what other apps registered in pipeline.extensions."""
    return (
        deals.select_related("lead", "owner", "stage")
        .annotate(lead_is_customer=lead_is_customer_expression(), **extensions.card_annotations())
        .order_by("-stage_entered_at", "-pk")
    )


def card_annotation_names() -> list[str]:
    return ["lead_is_customer", *extensions.card_annotation_names()]


def card(deal_id: int) -> Deal:
    """One card, fresh from the database with the same annotations as the board's cards."""
    return card_queryset(Deal.objects.filter(pk=deal_id)).get()


def board_cards(deals: QuerySet[Deal], *, per_column: int) -> dict[int, list[Deal]]:
    """The first `per_column` cards of every column in one query (a window per stage)."""
    # Rank the narrow deal rows first and join leads, owners and stages only for the winners:
    # joining before ranking makes the database carry every visible deal through the joins.
    ranked_ids = (
        deals.order_by()
        .annotate(
            column_rank=Window(
                RowNumber(), partition_by=[F("stage_id")], order_by=[F("stage_entered_at").desc(), F("pk").desc()]
            )
        )
        .filter(column_rank__lte=per_column)
        .values("pk")
    )
    cards: dict[int, list[Deal]] = defaultdict(list)
    for deal in card_queryset(Deal.objects.filter(pk__in=ranked_ids)):
        cards[deal.stage_id].append(deal)
    return cards


def board_columns(*, pipeline: Pipeline, deals: QuerySet[Deal], per_column: int | None = None) -> list[Column]:
    per_column = per_column or settings.STAGEFLOW["BOARD_PAGE_SIZE"]
    stages = list(pipeline.stages.order_by("position", "pk"))
    totals = column_totals(deals)
    cards = board_cards(deals, per_column=per_column)
    columns = []
    for stage in stages:
        stage_totals = totals.get(stage.pk, [])
        column = Column(stage=stage, count=sum(t.count for t in stage_totals), totals=stage_totals, cards=cards.get(stage.pk, []))
        for card in column.cards:
            card.stage = stage  # the same object, so per-card properties need no query
        columns.append(column)
    return columns


def column_page(*, stage: Stage, deals: QuerySet[Deal], offset: int, limit: int) -> list[Deal]:
    """Cards of one column after the first `offset`, for "load more"."""
    return list(card_queryset(deals.filter(stage=stage))[offset : offset + limit])


def pipeline_stages_reachable_from(*, pipeline_id: int, stage_id: int) -> list[Stage]:
    """The stages of a pipeline, each annotated with `reachable`: whether the transition table
    lets a deal in `stage_id` move there. One query; the same rule as allowed_target_ids."""
    allowed = Transition.objects.filter(to_stage=OuterRef("pk")).filter(Q(from_stage_id=stage_id) | Q(from_stage__isnull=True))
    return list(
        Stage.objects.filter(pipeline_id=pipeline_id)
        .annotate(reachable=Exists(allowed))
        .order_by("position", "pk")
    )
