"""The board (GET /pipeline/): its columns, a column's next cards ("Load more") and the quick-add form."""
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..cards import present_cards
from ..exceptions import PipelineError
from ..forms import BoardFilterForm, QuickAddForm
from ..models import Deal, Stage
from .common import (
    board_state,
    board_url_for,
    column_headers,
    is_partial,
    organization_by_name,
    refused,
    refusals_shown_on_board,
    safe_next,
    shown_by_page,
    toast,
)


BOARD = "pipeline/board.html"


# A filter change swaps the board; the <title> in front lets htmx update the tab title as well.
BOARD_SWAP = "pipeline/_board_swap.html"


MAX_OFFSET = 100_000


def _page_size() -> int:
    return settings.STAGEFLOW["BOARD_PAGE_SIZE"]


def board(request):
    """GET /pipeline/ — the board. HTMX requests get the columns, or one column's next page."""
    user = request.user
    pipelines = selectors.board_pipelines(user)  # with their stages
    # The owner filter shows each person's name: their id and name columns are all it reads.
    owners = list(
        selectors.visible_users(user).order_by("first_name", "last_name", "username")
        .only("id", "username", "first_name", "last_name")
    )
    form = BoardFilterForm(request.GET or None, pipelines=pipelines, owners=owners)
    valid = form.is_valid() if form.is_bound else True
    chosen = form.cleaned_data.get("pipeline") if form.is_bound else None
    pipeline = next((p for p in pipelines if p.pk == chosen), None)
    if pipeline is None:
        pipeline = next((p for p in pipelines if p.is_default), pipelines[0] if pipelines else None)
    if pipeline is None:
        return render(request, "pipeline/no_pipeline.html", {"nav": "board"})
    filters = form.filters()
    deals = selectors.board_deals(user=user, pipeline=pipeline, **filters)

    more_stage, offset = _more_request(request)
    if more_stage and is_partial(request):
        return _column_more(request, pipeline=pipeline, deals=deals, stage_id=more_stage, offset=offset)

    totals = selectors.board_stage_totals(user=user, pipeline=pipeline, **filters)
    columns = selectors.board_columns(stages=pipeline.board_stages, deals=deals, totals=totals)
    targets = selectors.move_targets(pipeline_id=pipeline.pk, stages=pipeline.board_stages)  # in board order
    for column in columns:
        column.targets = targets[column.stage.pk]  # the same moves for every card: one menu per column
        column.next_offset = len(column.cards)
        if more_stage == column.stage.pk and offset:
            # Without JavaScript "Load more" reloads the page with this column longer.
            column.cards += selectors.column_page(stage=column.stage, deals=deals, offset=len(column.cards), limit=offset)
            column.next_offset = len(column.cards)
            for card in column.cards:
                card.stage = column.stage
        present_cards(column.cards, user=user)

    filtered = any(value not in (None, "") for value in filters.values())
    context = {
        "nav": "board",
        "form": form,
        "filters_valid": valid,
        "pipeline": pipeline,
        "pipelines": pipelines,
        "columns": columns,
        "state": _state_params(filters),
        "state_query": _state_query(request, pipeline),
        "board_url": request.get_full_path(),
        "quick_add_form": QuickAddForm(),
        "lost_reasons": selectors.active_lost_reasons(),
        "filtered": filtered,
        "board_empty": all(column.count == 0 for column in columns),
    }
    template = BOARD_SWAP if is_partial(request) else BOARD
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _more_request(request) -> tuple[int | None, int]:
    try:
        stage = int(request.GET.get("stage", ""))
        offset = int(request.GET.get("offset", ""))
    except ValueError:
        return None, 0
    if stage <= 0 or not 0 < offset <= MAX_OFFSET:
        return None, 0
    return stage, offset


def _state_params(filters: dict) -> dict:
    """The filters as form fields that moves and quick-adds send along."""
    return {
        "owner": filters.get("owner_id") or "",
        "q": filters.get("q") or "",
        "close_from": filters["close_from"].isoformat() if filters.get("close_from") else "",
        "close_to": filters["close_to"].isoformat() if filters.get("close_to") else "",
    }


def _state_query(request, pipeline) -> str:
    """The board's query string without paging, for "Load more" links."""
    query = request.GET.copy()
    for key in ("stage", "offset"):
        query.pop(key, None)
    query["pipeline"] = pipeline.pk
    return query.urlencode()


def _column_more(request, *, pipeline, deals, stage_id: int, offset: int):
    stage = get_object_or_404(Stage, pk=stage_id, pipeline=pipeline)
    size = _page_size()
    cards = selectors.column_page(stage=stage, deals=deals, offset=offset, limit=size + 1)
    has_more = len(cards) > size
    cards = cards[:size]
    for card in cards:
        card.stage = stage
    context = {
        "stage": stage,
        "cards": present_cards(cards, user=request.user),
        "has_more": has_more,
        "next_offset": offset + len(cards),
        "state_query": _state_query(request, pipeline),
        "board_url": board_url_for(request),
    }
    return render(request, f"{BOARD}#cards_page", context)


@require_POST
@refusals_shown_on_board
def deal_quick_add(request, stage_id):
    """POST /pipeline/stages/<id>/add/ — title, company and amount; a new company becomes a lead."""
    user = request.user
    stage = get_object_or_404(
        Stage.objects.select_related("pipeline"), pk=stage_id, pipeline__in=selectors.visible_pipelines(user)
    )
    form = QuickAddForm(request.POST)
    deal = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # a refused deal leaves no new lead behind
                organization = organization_by_name(user, data["company"])
                deal = services.deal_create(
                    actor=user, organization=organization, title=data["title"], stage=stage, owner=user, amount=data["amount"],
                )
        except PipelineError as refusal:
            form.add_error(None, refusal.message)

    if not is_partial(request):
        if deal:
            messages.success(request, _("Deal “%(deal)s” added.") % {"deal": deal.title})
        else:
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(safe_next(request, stage.pipeline.get_absolute_url()))

    context = {"stage": stage, "quick_add_form": form if deal is None else QuickAddForm(), "board_url": board_url_for(request)}
    if deal is None:
        return shown_by_page(render(request, "pipeline/_quick_add_response.html", context, status=400))
    (deal,) = present_cards([selectors.card(deal.pk)], user=user)  # with the stage, and what every card shows
    context.update(
        card=deal,
        headers=column_headers(user=user, pipeline_id=stage.pipeline_id, stages=[stage], filters=board_state(request)),
        toasts=[toast(_("Deal “%(deal)s” added.") % {"deal": deal.title})],
    )
    return render(request, "pipeline/_quick_add_response.html", context)
