"""Reads that depend on who is asking. Every view, form choice list, filter and export uses these."""
import re
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import connections
from django.db.models import (
    Case, Count, DecimalField, Exists, ExpressionWrapper, F, FilteredRelation, IntegerField, OuterRef, Q, QuerySet, Sum,
    Value, When, Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils import timezone

from . import extensions

from .models import Deal, DealStatus, Lead, LostReason, Pipeline, Stage, Transition
from .prepared import PreparedQuery
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


def _deal_visibility(user) -> tuple[tuple, Q | bool]:
    """Who sees which deals, in one place: the filter visible_deals applies (True: every deal,
    False: none) and the key of everything that filter depends on, for statements compiled once
    (pipeline.prepared). Both come from the same branch, so they cannot drift apart."""
    if not _is_signed_in(user):
        return ("nobody",), False
    if user.is_admin:
        return ("admin",), True
    if user.is_manager:
        return ("manager", user.pk, user.team_id), Q(owner_id=user.pk) | _managed_owner_q(user)
    if _reps_see_team() and user.team_id:
        return ("rep and team", user.pk, user.team_id), Q(owner_id=user.pk) | Q(owner__team_id=user.team_id)
    return ("rep", user.pk), Q(owner_id=user.pk)


def visible_deals(user, *, queryset: QuerySet[Deal] | None = None) -> QuerySet[Deal]:
    """Deals the user may see: admins all, managers their teams', reps their own (and, when the
    setting allows, their teammates' read-only). `queryset` narrows or decorates the base set."""
    qs = Deal.objects.all() if queryset is None else queryset
    _, rule = _deal_visibility(user)
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


def visibility_key(user) -> tuple:
    """Everything visible_deals(user) depends on, as a key for queries built on it and compiled
    once (pipeline.prepared)."""
    return _deal_visibility(user)[0]


def can_change_deal(user, deal: Deal) -> bool:
    """Admins any deal, managers their teams' deals, reps only their own."""
    if not _is_signed_in(user):
        return False
    if user.is_admin or deal.owner_id == user.pk:
        return True
    if user.is_manager:
        return _manages_team(user, _owner_team_id(deal))
    return False


def can_reassign_deal(user, deal: Deal, new_owner) -> bool:
    """Whether the user may give `deal` to `new_owner`: they must be able to change the deal, and
    the new owner must be someone they may assign (managers: within their teams)."""
    if new_owner is None or not can_change_deal(user, deal):
        return False
    if new_owner.pk == deal.owner_id:
        return True
    return assignable_users(user).filter(pk=new_owner.pk).exists()


def visible_leads(user, *, queryset: QuerySet[Lead] | None = None) -> QuerySet[Lead]:
    """Leads the user may see: those they (or, for managers, their teams) own, those behind a
    deal they may see, and unowned leads that no deal uses yet (the shared pool)."""
    qs = Lead.objects.all() if queryset is None else queryset
    if not _is_signed_in(user):
        return qs.none()
    if user.is_admin:
        return qs
    pool = Q(owner__isnull=True) & ~Exists(Deal.objects.filter(lead_id=OuterRef("pk")))
    behind_visible_deal = Q(pk__in=visible_deals(user).values("lead_id"))
    q = Q(owner_id=user.pk) | behind_visible_deal | pool
    if user.is_manager:
        q |= _managed_owner_q(user)
    elif _reps_see_team() and user.team_id:
        q |= Q(owner__team_id=user.team_id)
    return qs.filter(q)


LEAD_SUGGESTIONS = 20


def lead_suggestions(user, text: str, *, limit: int = LEAD_SUGGESTIONS) -> list[Lead]:
    """Leads the user may see whose name contains `text`, names that start with it first."""
    text = (text or "").strip()
    if not text:
        return []
    leads = visible_leads(user).filter(name__icontains=text).only("pk", "name", "website")
    starting = list(leads.filter(name__istartswith=text).order_by("name", "pk")[:limit])
    if len(starting) < limit:
        seen = [lead.pk for lead in starting]
        starting += list(leads.exclude(pk__in=seen).order_by("name", "pk")[: limit - len(starting)])
    return starting


def can_change_lead(user, lead: Lead) -> bool:
    """Admins any lead; owners theirs; managers their teams' leads. An unowned lead may be changed
    by anyone while no deal uses it, afterwards by whoever may change one of its deals."""
    if not _is_signed_in(user):
        return False
    if user.is_admin or (lead.owner_id is not None and lead.owner_id == user.pk):
        return True
    if lead.owner_id is None:
        deals = Deal.objects.filter(lead_id=lead.pk)
        if not deals.exists():
            return True
        if user.is_manager:
            return deals.filter(Q(owner_id=user.pk) | _managed_owner_q(user)).exists()
        return deals.filter(owner_id=user.pk).exists()
    if user.is_manager:
        return _manages_team(user, _owner_team_id(lead))
    return False


def visible_people(user) -> QuerySet:
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
    """The active ones of visible_people: the choices of owner filters and owner fields, and the
    API's users endpoint. Nobody outside them is listed, to reps and managers alike."""
    return visible_people(user).filter(is_active=True)


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


def lead_for_user_or_404(user, pk, *, change: bool = False, queryset: QuerySet[Lead] | None = None) -> Lead:
    lead = _get_or_404(visible_leads(user, queryset=queryset), pk)
    if change and not can_change_lead(user, lead):
        raise PermissionDenied(_("You can see this lead but not change it."))
    return lead


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


@dataclass
class Column:
    stage: Stage
    count: int = 0
    totals: list[CurrencyTotal] = field(default_factory=list)
    cards: list[Deal] = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.count > len(self.cards)


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
        qs = qs.filter(Q(title__icontains=q) | Q(lead__name__icontains=q) | Q(lead__contact_name__icontains=q))
    if close_from:
        qs = qs.filter(expected_close__gte=close_from)
    if close_to:
        qs = qs.filter(expected_close__lte=close_to)
    return qs


_CENT = Decimal("0.01")


def column_totals(deals: QuerySet[Deal]) -> dict[int, list[CurrencyTotal]]:
    """Per stage and currency: count, total and weighted amount (weighted_amount_expression), in
    one GROUP BY query."""
    rows = (
        deals.order_by()
        .values_list("stage_id", "currency")
        .annotate(n=Count("pk"), total=Sum("amount"), weighted=Sum(weighted_amount_expression()))
        .order_by("stage_id", "currency")
    )
    result: dict[int, list[CurrencyTotal]] = defaultdict(list)
    for stage_id, currency, count, total, weighted in rows:
        result[stage_id].append(
            CurrencyTotal(
                currency=currency,
                count=count,
                total=Decimal(total or 0).quantize(_CENT),
                weighted=Decimal(weighted or 0).quantize(_CENT),
            )
        )
    return result


def lead_is_customer_expression():
    """True when the lead has a won deal (any deal, seen or not: being a customer is a fact
    about the company)."""
    return Exists(Deal.objects.filter(lead_id=OuterRef("lead_id"), status=DealStatus.WON))


def card_queryset(deals: QuerySet[Deal], *, with_stage: bool = True, with_owner: bool = True) -> QuerySet[Deal]:
    """Cards with everything they show, in one query: the lead, owner and stage, whether the
    lead is a customer, and what other apps registered in pipeline.extensions."""
    return (
        deals.select_related("lead", *(["owner"] if with_owner else []), *(["stage"] if with_stage else []))
        .annotate(lead_is_customer=lead_is_customer_expression(), **extensions.card_annotations())
        .order_by("-stage_entered_at", "-pk")
    )


# The columns a board card shows (pipeline.cards, the card partial and what extensions print):
# the board reads only these, for hundreds of cards.
BOARD_CARD_FIELDS = (
    "pk", "pipeline_id", "stage_id", "lead_id", "owner_id", "title", "amount", "currency", "expected_close", "status",
    "next_step", "stage_entered_at", "rotting_snoozed_until", "version",
    "lead__name",
)
# The owner's columns a card shows, read in the same query as annotations: board_card_list makes
# one User of them per owner instead of one per card (a rep's board is a hundred cards of one owner).
BOARD_OWNER_FIELDS = ("username", "first_name", "last_name")


def board_card_queryset(deals: QuerySet[Deal]) -> QuerySet[Deal]:
    """Cards as the board reads them: what card_queryset reads, narrowed to BOARD_CARD_FIELDS and
    without the stage (the board gives each card its column's stage object). Read them with
    board_card_list, which sets their owners."""
    return (
        card_queryset(deals, with_stage=False, with_owner=False)
        .only(*BOARD_CARD_FIELDS)
        .annotate(**{f"board_owner_{name}": F(f"owner__{name}") for name in BOARD_OWNER_FIELDS})
    )


class BoardCard:
    """A card as the board reads it (board_card_list): not a Deal but a row, several times cheaper
    to make for hundreds of cards. It has the BOARD_CARD_FIELDS (`pk` and `id`), the card
    annotations (`lead_is_customer` and what extensions registered), `lead` (with its `id` and
    `name`) and `owner` (a User with BOARD_OWNER_FIELDS); the board sets `stage`. Presenters and
    card parts (pipeline.extensions) set their display values on it like on a Deal."""

    def __init__(self, values: dict):
        self.__dict__.update(values)

    @property
    def pk(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<BoardCard {self.id}: {self.title}>"


@dataclass
class CardLead:
    """A board card's lead: what the card shows of it."""

    id: int
    name: str

    @property
    def pk(self) -> int:
        return self.id


def _board_card_fields() -> list[str]:
    """The columns of a board card row, in the order the card query selects them."""
    return [
        "id", *BOARD_CARD_FIELDS[1:-1], "lead__name", *card_annotation_names(),
        *(f"board_owner_{name}" for name in BOARD_OWNER_FIELDS),
    ]


def _board_card_rows(rows, fields: list[str], db: str) -> list[BoardCard]:
    """BoardCard rows from the card query's rows (values in `fields` order), each with its `owner`
    (one User per owner, built from the owner columns) and its `lead`."""
    User = get_user_model()
    owner_at = len(fields) - len(BOARD_OWNER_FIELDS)
    names = fields[:owner_at]
    owner_names = ["id", *BOARD_OWNER_FIELDS]
    owners = {}
    result = []
    for row in rows:
        values = dict(zip(names, row))
        owner_id = values["owner_id"]
        owner = owners.get(owner_id)
        if owner is None:
            owner = owners[owner_id] = User.from_db(db, owner_names, [owner_id, *row[owner_at:]])
        values["owner"] = owner
        values["lead"] = CardLead(values["lead_id"], values.pop("lead__name"))
        result.append(BoardCard(values))
    return result


def board_card_list(cards: QuerySet[Deal]) -> list[BoardCard]:
    """The cards of a board_card_queryset as BoardCard rows, each with its `owner` set: one User
    object per owner, built from the annotated columns, and its `lead`."""
    fields = _board_card_fields()
    return _board_card_rows(cards.values_list(*fields), fields, cards.db)


# The board's card query is the same SQL for every request but for the deals it reads (the ranked
# ids of board_cards): building and compiling it with its annotations cost more than running it.
# So it is compiled once per database connection (and set of card annotations) around this
# stand-in, and each request puts its own ranked-ids subquery in its place.
_RANKED_IDS = "board_ranked_ids"
_PLACEHOLDER = re.compile(r"%[%s]")


@dataclass(frozen=True)
class _CompiledCards:
    before: str  # the SQL before the ranked-ids subquery
    after: str
    params_before: tuple
    params_after: tuple
    fields: list[str]
    converters: tuple  # (position, converter functions, expression) as the compiler applies them


def _count_params(sql: str) -> int:
    return sum(1 for mark in _PLACEHOLDER.findall(sql) if mark == "%s")


def _compile_board_cards(connection) -> _CompiledCards:
    fields = _board_card_fields()
    query = (
        board_card_queryset(Deal.objects.filter(pk__in=RawSQL(_RANKED_IDS, ())))
        .values_list(*fields)
        .query
    )
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    selected = [alias for _, _, alias in compiler.select]
    if selected != fields:  # values_list keeps the order asked for; the rows are read by it
        raise ImproperlyConfigured(f"The board's card query selects {selected}, expected {fields}.")
    before, after = sql.split(f"({_RANKED_IDS})")
    n = _count_params(before)
    converters = tuple(
        (position, tuple(functions), expression)
        for position, (functions, expression) in compiler.get_converters([s[0] for s in compiler.select]).items()
    )
    return _CompiledCards(before, after, tuple(params[:n]), tuple(params[n:]), fields, converters)


# Per connection object (a thread's own), and per version of the card annotation registry.
_compiled_cards: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _board_card_list_by_ids(ids: QuerySet) -> list[BoardCard]:
    """The cards whose pks `ids` (a values("pk") queryset of deals) selects, as board_card_list
    reads them from board_card_queryset, with the same rows and values, in one query."""
    connection = connections[ids.db]
    key = extensions.card_annotations_version()
    cached = _compiled_cards.get(connection)
    if cached is None or cached[0] != key:
        cached = _compiled_cards[connection] = (key, _compile_board_cards(connection))
    compiled = cached[1]
    # Compiled on its own rather than resolved against the card query (which would relabel its
    # tables): it refers to nothing outside itself, and its tables shadow the card query's.
    inner_sql, inner_params = ids.query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            f"{compiled.before}({inner_sql}){compiled.after}",
            (*compiled.params_before, *inner_params, *compiled.params_after),
        )
        rows = cursor.fetchall()
    if compiled.converters:
        converted = []
        for row in rows:
            row = list(row)
            for position, functions, expression in compiled.converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            converted.append(row)
        rows = converted
    return _board_card_rows(rows, compiled.fields, ids.db)


# Shared configuration the board reads on every request (a pipeline's stages and transitions, the
# lost reasons): the same statement every time, and compiling it cost several times running it.
# Compiled once per process (pipeline.prepared); the rows are read on every request.
_STAGES = PreparedQuery(lambda *, pipeline: Stage.objects.filter(pipeline_id=pipeline).order_by("position", "pk"))
_LOST_REASONS = PreparedQuery(lambda: LostReason.objects.filter(is_active=True).order_by("position", "pk"))
_TRANSITIONS = PreparedQuery(  # a set of pairs: no ordering (the model's would join the stages)
    lambda *, pipeline: Transition.objects.filter(pipeline_id=pipeline).order_by().values_list("from_stage_id", "to_stage_id")
)


def pipeline_stages(pipeline_id: int) -> list[Stage]:
    """A pipeline's stages in board order."""
    return _STAGES.fetch("stages", pipeline=pipeline_id)


def active_lost_reasons() -> list[LostReason]:
    """The reasons a deal may be marked lost with, in menu order."""
    return _LOST_REASONS.fetch("lost reasons")


def card_annotation_names() -> list[str]:
    return ["lead_is_customer", *extensions.card_annotation_names()]


def card(deal_id: int) -> Deal:
    """One card, fresh from the database with the same annotations as the board's cards."""
    return card_queryset(Deal.objects.filter(pk=deal_id)).get()


def board_cards(deals: QuerySet[Deal], *, per_column: int) -> dict[int, list[BoardCard]]:
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
    cards: dict[int, list[BoardCard]] = defaultdict(list)
    for deal in _board_card_list_by_ids(ranked_ids):
        cards[deal.stage_id].append(deal)
    return cards


def board_columns(*, pipeline: Pipeline, deals: QuerySet[Deal], per_column: int | None = None) -> list[Column]:
    per_column = per_column or settings.STAGEFLOW["BOARD_PAGE_SIZE"]
    stages = pipeline_stages(pipeline.pk)
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


def column_page(*, stage: Stage, deals: QuerySet[Deal], offset: int, limit: int) -> list[BoardCard]:
    """Cards of one column after the first `offset`, for "load more"."""
    return board_card_list(board_card_queryset(deals.filter(stage=stage))[offset : offset + limit])


def move_targets(*, pipeline_id: int, stages: list[Stage]) -> dict[int, list[Stage]]:
    """For each of a pipeline's `stages` (all of them, as the board holds them), the stages a deal
    there may move to, in the order given (services.transition_targets), in one query: the board
    has read the stages already."""
    allowed = transition_targets([stage.pk for stage in stages], _TRANSITIONS.fetch("transitions", pipeline=pipeline_id))
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
