"""The board, the deal pages and the lead pages.

Views are thin: they find what the user may see (selectors), validate input (forms), call one
service, and render from fresh database state. One URL renders the full page or, for an HTMX
request, the partial it needs; after an HTMX write the page's other parts are refreshed with
out-of-band swaps.
"""
import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from . import cards as card_view
from . import extensions, selectors, services
from . import leads as lead_services
from .extensions import TimelineEntry
from .exceptions import PipelineError, VersionConflict
from .forms import (
    BoardFilterForm,
    BoardStateForm,
    DealCreateForm,
    DealEditForm,
    LeadForm,
    LoseForm,
    MoveForm,
    QuickAddForm,
    SnoozeForm,
    VersionForm,
    lead_label,
)
from .models import Deal, DealField, DealStatus, ForecastCategory, Lead, LostReason, Pipeline, Stage
from .prepared import PreparedQuery

BOARD = "pipeline/board.html"
# A filter change swaps the board; the <title> in front lets htmx update the tab title as well.
BOARD_SWAP = "pipeline/_board_swap.html"
MAX_OFFSET = 100_000


# --- Helpers ---------------------------------------------------------------------------------


def _page_size() -> int:
    return settings.STAGEFLOW["BOARD_PAGE_SIZE"]


def _is_partial(request) -> bool:
    """An HTMX request that wants a fragment (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _board_url_for(request) -> str:
    """Where an HTMX-rendered card's non-JS fallback should lead back to: the page it lives on."""
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return reverse("pipeline:board")


def _deal_page_queryset(*, as_card: bool = False):
    return _deal_page_base(as_card, extensions.card_annotations_version()).all()


@functools.lru_cache(maxsize=8)
def _deal_page_base(as_card: bool, generation: int):
    """Built once per process and cloned per request: building the card annotations (subqueries
    of other apps) took longer than reading the deal with them."""
    deals = Deal.objects.all()
    if as_card:
        deals = selectors.card_queryset(deals)
    return deals.select_related("owner", "lead", "stage", "pipeline")


def _visible_deal_or_404(user, pk: int, *, as_card: bool = False) -> Deal:
    """The deal if the user may see it; unknown and hidden deals both answer 404. `as_card` reads
    it with the card annotations too (same query), for views that re-render its card."""
    return selectors.deal_for_user_or_404(user, pk, queryset=_deal_page_queryset(as_card=as_card))


def _changeable_deal(user, pk: int, *, as_card: bool = False) -> Deal:
    """The deal if the user may change it: 404 when they may not see it, 403 when they only see it."""
    return selectors.deal_for_user_or_404(user, pk, change=True, queryset=_deal_page_queryset(as_card=as_card))


def _move_targets(stages: list[Stage], stage_id: int) -> list[Stage]:
    return [s for s in stages if s.reachable and s.pk != stage_id]


@dataclass
class Header:
    """A column header: the stage and its totals under the board's filters."""

    stage: Stage
    totals: list

    @property
    def count(self) -> int:
        return sum(t.count for t in self.totals)


def _headers(*, user, pipeline_id: int, stages: list[Stage], filters: dict) -> list[Header]:
    """Fresh column headers for `stages`, computed by the database in one query."""
    deals = selectors.board_deals(user=user, pipeline=pipeline_id, **filters).filter(stage__in=[s.pk for s in stages])
    totals = selectors.column_totals(deals)
    headers = [Header(stage=s, totals=totals.get(s.pk, [])) for s in stages]
    card_view.render_headers(headers, oob=True)  # they replace the board's headers out of band
    return headers


def _board_state(request) -> dict:
    return BoardStateForm(request.POST).filters()


def _toast(message, level: str = "success", undo: dict | None = None) -> dict:
    return {"message": message, "level": level, "undo": undo}


# The session key of the toast a move from the deal page leaves for that page (shown once).
DEAL_PAGE_TOAST = "pipeline:deal_page_toast"


def _deal_page_toast(request, deal: Deal) -> dict | None:
    """The toast of the move just made from this deal's page, once; None when the deal has changed
    since (its Undo would only meet a version conflict)."""
    toast = request.session.get(DEAL_PAGE_TOAST)
    if not toast or toast.get("deal") != deal.pk:
        return None
    del request.session[DEAL_PAGE_TOAST]
    return toast if toast["undo"]["version"] == deal.version else None


def _shown_by_page(response):
    """Mark an HTMX error response that the page swaps in itself (board.js), so that
    django-htmx's DEBUG helper does not replace the whole page with it."""
    response["X-Stageflow-Refusal"] = "1"
    return response


def _refusal(request, *, message, status: int, deal: Deal | None = None, extra: dict | None = None):
    """A refused write: an HTMX fragment (toast, and the deal's current card on a conflict) or,
    without JavaScript, a small page that says why."""
    if _is_partial(request):
        context = {"toasts": [_toast(message, "danger")], "board_url": _board_url_for(request), **(extra or {})}
        return _shown_by_page(render(request, "pipeline/_oob.html", context, status=status))
    back = _safe_next(request, deal.get_absolute_url() if deal else reverse("pipeline:board"))
    return render(request, "pipeline/refused.html", {"message": message, "back": back, "deal": deal}, status=status)


def _current_state_context(request, current: Deal, filters: dict) -> dict:
    """What the board needs to show a deal as it is now: after a conflict, or a reopen."""
    stages = list(Stage.objects.filter(pipeline_id=current.pipeline_id).order_by("position", "pk"))
    stage = next(s for s in stages if s.pk == current.stage_id)
    card = None
    if current.status != DealStatus.LOST:
        card = selectors.card(current.pk)  # with the annotations every card carries
        card.stage = stage
        card_view.render([card])
    return {
        "card": card,
        "removed_id": current.pk,
        "headers": _headers(user=request.user, pipeline_id=current.pipeline_id, stages=stages, filters=filters),
    }


# --- The board -------------------------------------------------------------------------------


def board(request):
    """GET /pipeline/ — the board. HTMX requests get the columns, or one column's next page."""
    user = request.user
    pipelines = list(selectors.visible_pipelines(user).order_by("position", "pk"))
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
    if more_stage and _is_partial(request):
        return _column_more(request, pipeline=pipeline, deals=deals, stage_id=more_stage, offset=offset)

    columns = selectors.board_columns(pipeline=pipeline, deals=deals)
    stages = [c.stage for c in columns]
    targets = selectors.move_targets(pipeline_id=pipeline.pk, stages=stages)  # in board order
    for column in columns:
        column.targets = targets[column.stage.pk]  # the same moves for every card: one menu per column
        column.next_offset = len(column.cards)
        if more_stage == column.stage.pk and offset:
            # Without JavaScript "Load more" reloads the page with this column longer.
            column.cards += selectors.column_page(stage=column.stage, deals=deals, offset=len(column.cards), limit=offset)
            column.next_offset = len(column.cards)
            for card in column.cards:
                card.stage = column.stage

    card_view.render(card for column in columns for card in column.cards)
    card_view.render_headers(columns)
    state_query, board_url = _state_query(request, pipeline), request.get_full_path()
    # One CSRF token for the whole page, its forms written in Python and in the template alike
    # (each get_token() masks the secret anew).
    csrf_token = get_token(request)
    page_csrf_input = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', csrf_token)
    card_view.render_column_parts(columns, board_url=board_url, state_query=state_query, csrf_input=page_csrf_input)
    filtered = any(value not in (None, "") for value in filters.values())
    card_view.render_columns(
        columns, filtered=filtered, quick_add_form=QuickAddForm(), board_url=board_url, csrf_input=page_csrf_input
    )
    context = {
        "nav": "board",
        "csrf_token": csrf_token,
        "form": form,
        "filters_valid": valid,
        "pipeline": pipeline,
        "pipelines": pipelines,
        "columns": columns,
        "state": _state_params(filters),
        "state_query": state_query,
        "board_url": board_url,
        "lost_reasons": selectors.active_lost_reasons(),
        "filtered": filtered,
        "board_empty": all(column.count == 0 for column in columns),
    }
    template = BOARD_SWAP if _is_partial(request) else BOARD
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
    card_view.render(cards)
    context = {
        "stage": stage,
        "cards": cards,
        "has_more": has_more,
        "next_offset": offset + len(cards),
        "state_query": _state_query(request, pipeline),
        "board_url": _board_url_for(request),
    }
    return render(request, f"{BOARD}#cards_page", context)


# --- Moves and status changes ----------------------------------------------------------------


def _move_read(user, *, pk: int, stage: int):
    """The deal as a move reads it (selectors.deal_to_move), with its card's annotations."""
    return selectors.deal_to_move(user, pk=pk, stage=stage, queryset=_deal_page_queryset(as_card=True))


# Compiled once per user and process: a move's read is the same statement with another deal and stage.
_MOVE_READ = PreparedQuery(_move_read)


def _deal_to_move(user, pk: int, stage_id: int) -> Deal:
    """The deal a move reads (see _move_read): 404 when the user may not see it, 403 when they
    may only see it."""
    key = (selectors.visibility_key(user), extensions.card_annotations_version())
    found = _MOVE_READ.fetch(key, user, pk=pk, stage=stage_id) if 0 < pk < 2**63 else []
    if not found:  # the ORM's answer: 404, as for any deal the user may not see
        return selectors.deal_for_user_or_404(user, pk, change=True, queryset=_deal_page_queryset(as_card=True))
    deal = found[0]
    if not selectors.can_change_deal(user, deal):
        raise PermissionDenied(_("You can see this deal but not change it."))
    return deal


@require_POST
def deal_move_view(request, pk):
    """POST /pipeline/deals/<id>/move/ with `stage` and `version`: one move through deal_move."""
    form = MoveForm(request.POST)
    valid = form.is_valid()
    if valid:
        # The target stage arrives with the deal, in the same query.
        deal = _deal_to_move(request.user, pk, form.cleaned_data["stage"])
    else:
        deal = selectors.deal_for_user_or_404(request.user, pk, change=True, queryset=_deal_page_queryset(as_card=True))
        message = next(iter(form.errors.values()))[0]
        return _refusal(request, message=message, status=400, deal=deal)
    stage_id, version = form.cleaned_data["stage"], form.cleaned_data["version"]

    to_stage = getattr(deal, "target_stage", None)  # not set when the join found no such stage
    if to_stage is None:
        other = Stage.objects.filter(pk=stage_id).first()
        if other is None:
            message = _("This stage does not exist.")
        else:
            message = _("“%(stage)s” belongs to another pipeline.") % {"stage": other.name}
        return _refusal(request, message=message, status=400, deal=deal)
    from_stage = deal.stage

    filters = _board_state(request)
    try:
        # The deal as read above (with its stage, lead and pipeline): the service locks and reads
        # the row again, one statement, and keeps those objects where the row still points at them.
        moved = services.deal_move(deal=deal, to_stage=to_stage, actor=request.user, expected_version=version)
    except VersionConflict as conflict:
        extra = _current_state_context(request, conflict.deal, filters) if _is_partial(request) else None
        return _refusal(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return _refusal(request, message=refusal.message, status=refusal.status_code, deal=deal)

    if request.POST.get("undo"):
        message = _("“%(deal)s” moved back to %(stage)s.") % {"deal": moved.title, "stage": to_stage.name}
    else:
        message = _("“%(deal)s” moved to %(stage)s.") % {"deal": moved.title, "stage": to_stage.name}
    undo = _undo(moved, from_stage) if from_stage.pk != to_stage.pk else None
    if not _is_partial(request):
        target = _safe_next(request, reverse("pipeline:board") + f"?pipeline={deal.pipeline_id}")
        if undo and target == deal.get_absolute_url():
            # Back on the deal page the move is confirmed as on the board: a toast with Undo.
            request.session[DEAL_PAGE_TOAST] = {"deal": deal.pk, **_toast(message, undo=undo)}
        else:
            messages.success(request, message)
        return redirect(target)
    if moved.status != deal.status:
        # Won or un-won: the lead may have become (or stopped being) a customer, and what listens
        # to the win (the onboarding checklist) has run with the commit. Read the card again.
        moved = selectors.card(moved.pk)
    else:
        moved.owner = deal.owner  # unchanged by a move; saves a query
        moved.stage = to_stage
        # The card annotations (next activity, customer, …) were read with the deal before the
        # move, which does not change them when the deal stays open; copying saves re-reading.
        for name in selectors.card_annotation_names():
            setattr(moved, name, getattr(deal, name))
    card_view.render([moved])
    header_stages = [from_stage] if from_stage.pk == to_stage.pk else [from_stage, to_stage]
    context = {
        "card": moved,
        "removed_id": moved.pk,
        "headers": _headers(user=request.user, pipeline_id=deal.pipeline_id, stages=header_stages, filters=filters),
        "toasts": [_toast(message, undo=undo)],
        "board_url": _board_url_for(request),
    }
    return render(request, "pipeline/_oob.html", context)


def _undo(deal: Deal, back_to: Stage) -> dict:
    """What a toast's "Undo" button posts: an ordinary move back, so the move service checks the
    rules and the version again and history records it like any other move."""
    return {"url": reverse("pipeline:deal_move", args=[deal.pk]), "stage": back_to.pk, "stage_name": back_to.name,
            "version": deal.version}


@require_POST
def deal_lose_view(request, pk):
    """POST /pipeline/deals/<id>/lose/ with `reason`, `note` and `version`."""
    deal = _changeable_deal(request.user, pk)
    form = LoseForm(request.POST)
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        return _refusal(request, message=message, status=400, deal=deal)
    filters = _board_state(request)
    try:
        lost = services.deal_mark_lost(
            deal=deal.pk, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
            actor=request.user, expected_version=form.cleaned_data["version"],
        )
    except VersionConflict as conflict:
        extra = _current_state_context(request, conflict.deal, filters) if _is_partial(request) else None
        return _refusal(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return _refusal(request, message=refusal.message, status=refusal.status_code, deal=deal)

    message = _("“%(deal)s” marked lost: %(reason)s.") % {"deal": lost.title, "reason": form.cleaned_data["reason"]}
    if not _is_partial(request):
        messages.success(request, message)
        return redirect(_safe_next(request, deal.get_absolute_url()))
    context = {
        "card": None,
        "removed_id": lost.pk,
        "headers": _headers(user=request.user, pipeline_id=deal.pipeline_id, stages=[deal.stage], filters=filters),
        "toasts": [_toast(message)],
    }
    return render(request, "pipeline/_oob.html", context)


@require_POST
def deal_reopen_view(request, pk):
    """POST /pipeline/deals/<id>/reopen/ with `version`: a lost deal returns to its stage."""
    deal = _changeable_deal(request.user, pk)
    form = VersionForm(request.POST)
    if not form.is_valid():
        return _refusal(request, message=form.errors["version"][0], status=400, deal=deal)
    filters = _board_state(request)
    try:
        reopened = services.deal_reopen(deal=deal.pk, actor=request.user, expected_version=form.cleaned_data["version"])
    except VersionConflict as conflict:
        extra = _current_state_context(request, conflict.deal, filters) if _is_partial(request) else None
        return _refusal(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return _refusal(request, message=refusal.message, status=refusal.status_code, deal=deal)

    message = _("“%(deal)s” is open again.") % {"deal": reopened.title}
    if not _is_partial(request):
        messages.success(request, message)
        return redirect(_safe_next(request, deal.get_absolute_url()))
    context = _current_state_context(request, reopened, filters)
    context.update(toasts=[_toast(message)], board_url=_board_url_for(request))
    return render(request, "pipeline/_oob.html", context)


@require_POST
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
                lead = _lead_by_name(user, data["company"])
                deal = services.deal_create(
                    actor=user, lead=lead, title=data["title"], stage=stage, owner=user, amount=data["amount"],
                )
        except PipelineError as refusal:
            form.add_error(None, refusal.message)

    if not _is_partial(request):
        if deal:
            messages.success(request, _("Deal “%(deal)s” added.") % {"deal": deal.title})
        else:
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(_safe_next(request, stage.pipeline.get_absolute_url()))

    context = {"stage": stage, "quick_add_form": form if deal is None else QuickAddForm(), "board_url": _board_url_for(request)}
    if deal is None:
        return _shown_by_page(render(request, "pipeline/_quick_add_response.html", context, status=400))
    deal = selectors.card(deal.pk)  # with the stage, and the annotations every card carries
    card_view.render([deal])
    context.update(
        card=deal,
        headers=_headers(user=user, pipeline_id=stage.pipeline_id, stages=[stage], filters=_board_state(request)),
        toasts=[_toast(_("Deal “%(deal)s” added.") % {"deal": deal.title})],
    )
    return render(request, "pipeline/_quick_add_response.html", context)


def _lead_by_name(user, name: str) -> Lead:
    name = name.strip()
    lead = selectors.visible_leads(user).filter(name__iexact=name).order_by("pk").first()
    return lead or lead_services.lead_create(actor=user, name=name, owner=user)


@require_GET
def lead_lookup(request):
    """GET /pipeline/leads/lookup/?q=… — suggestions for a lead field (LeadLookupInput): the
    options of its datalist. The field sends its own value under its name when `q` is absent."""
    text = request.GET.get("q")
    if text is None:
        text = next(iter(request.GET.values()), "")
    leads = selectors.lead_suggestions(request.user, text[:100])
    for lead in leads:
        lead.label = lead_label(lead)
    return render(request, "pipeline/_lead_options.html", {"leads": leads})


# --- Deal pages ------------------------------------------------------------------------------


def _change_value_display(field: str, value: str) -> str:
    """A stored history value as the active language writes it (12.500,00 / 9. Oktober 2026)."""
    if not value:
        return value
    try:
        if field == DealField.AMOUNT:
            return formats.number_format(Decimal(value), 2, use_l10n=True, force_grouping=True)
        if field == DealField.EXPECTED_CLOSE:
            return formats.date_format(date.fromisoformat(value), "DATE_FORMAT")
        if field == DealField.PROBABILITY:
            return f"{int(value)} %"
        if field == DealField.FORECAST_CATEGORY:
            return str(dict(ForecastCategory.choices).get(value, value))
    except (ArithmeticError, ValueError):
        pass
    return value


def _history(deal: Deal, user=None) -> list[TimelineEntry]:
    """The deal's timeline, newest first (what a rep looks for is what happened last): stage
    changes, field changes, and what other apps add (activities, notes) via pipeline.extensions."""
    entries = [
        TimelineEntry(at=row.at, kind="stage", row=row, order=0)
        for row in deal.stage_changes.select_related("from_stage", "to_stage", "actor", "lost_reason")
    ]
    field_rows = list(deal.changes.select_related("actor"))
    # Owners and leads are stored by id: shown by their names (one query each, only when present).
    names = {}
    for field, model in ((DealField.OWNER, get_user_model()), (DealField.LEAD, Lead)):
        ids = {int(v) for r in field_rows if r.field == field for v in (r.old_value, r.new_value) if v.isdigit()}
        names[field] = {o.pk: str(o) for o in model.objects.filter(pk__in=ids)} if ids else {}
    for row in field_rows:
        old, new = row.old_value, row.new_value
        if row.field in names:
            old = names[row.field].get(int(old), old) if old.isdigit() else old
            new = names[row.field].get(int(new), new) if new.isdigit() else new
        else:
            old, new = _change_value_display(row.field, old), _change_value_display(row.field, new)
        entries.append(
            TimelineEntry(at=row.at, kind="field", row=row, label=row.get_field_display(), old=old, new=new, order=1)
        )
    for source in extensions.timeline_sources():
        entries.extend(source(deal=deal, user=user))
    entries.sort(key=lambda e: (e.at, e.order, e.row.pk), reverse=True)
    return entries


def _deal_page_context(request, deal: Deal, *, form=None, lose_form=None) -> dict:
    user = request.user
    can_change = selectors.can_change_deal(user, deal)
    stages = selectors.pipeline_stages_reachable_from(pipeline_id=deal.pipeline_id, stage_id=deal.stage_id)
    deal.stage = next((s for s in stages if s.pk == deal.stage_id), deal.stage)
    targets = _move_targets(stages, deal.stage_id)
    return {
        "nav": "board",
        "deal": deal,
        "can_change": can_change,
        "form": form or (DealEditForm(user=user, deal=deal) if can_change else None),
        "lose_form": lose_form or LoseForm(initial={"version": deal.version}),
        "targets": targets,
        "next_stage": next((s for s in targets if s.position > deal.stage.position), None),
        "stages": stages,
        "history": _history(deal, user),
        "lead_is_customer": Deal.objects.filter(lead_id=deal.lead_id, status=DealStatus.WON).exists(),
        "board_url": deal.pipeline.get_absolute_url(),
        "move_toast": _deal_page_toast(request, deal),
        "snooze_form": SnoozeForm(initial={"version": deal.version}),
        "panels": [
            html for panel in extensions.deal_panels() if (html := panel(request=request, deal=deal, can_change=can_change))
        ],
    }


@require_http_methods(["GET", "POST"])
def deal_detail(request, pk):
    """GET /pipeline/deals/<id>/ the deal page; POST saves the edit form through deal_update."""
    deal = _visible_deal_or_404(request.user, pk)
    if request.method == "GET":
        return render(request, "pipeline/deal_detail.html", _deal_page_context(request, deal))

    if not selectors.can_change_deal(request.user, deal):
        raise PermissionDenied(_("You may look at this deal but not change it."))
    form = DealEditForm(request.POST, user=request.user, deal=deal)
    status = 400
    if form.is_valid():
        try:
            services.deal_update(
                deal=deal.pk, actor=request.user, expected_version=form.cleaned_data["version"], **form.changes()
            )
        except VersionConflict:
            current = _visible_deal_or_404(request.user, pk)
            messages.error(
                request,
                _("Someone changed this deal while you were editing it. Your changes were not saved; "
                  "the form now shows the current values."),
            )
            form = DealEditForm(user=request.user, deal=current)
            return render(request, "pipeline/deal_detail.html", _deal_page_context(request, current, form=form), status=409)
        except PipelineError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, _("Deal saved."))
            return redirect(deal.get_absolute_url())
    return render(request, "pipeline/deal_detail.html", _deal_page_context(request, deal, form=form), status=status)


@require_http_methods(["GET", "POST"])
def deal_create(request):
    """GET/POST /pipeline/deals/new/ — the full deal form (the board has a quick-add too)."""
    user = request.user
    initial = {}
    if request.method == "GET":
        if request.GET.get("lead", "").isdigit():
            initial["lead"] = request.GET["lead"]
        if request.GET.get("stage", "").isdigit():
            initial["stage"] = request.GET["stage"]
    form = DealCreateForm(request.POST or None, user=user, initial=initial)
    if request.method == "GET" and "stage" not in initial:
        first = form.fields["stage"].queryset.filter(pipeline__is_default=True).first()
        form.initial["stage"] = first.pk if first else None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    lead = data["lead"] or _lead_by_name(user, data["new_lead"])
                    deal = services.deal_create(
                        actor=user, lead=lead, title=data["title"], stage=data["stage"], owner=data["owner"],
                        amount=data["amount"], currency=data["currency"], expected_close=data["expected_close"],
                        next_step=data["next_step"] or "", probability=data["probability"],
                    )
            except PipelineError as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, _("Deal “%(deal)s” created.") % {"deal": deal.title})
                return redirect(deal.get_absolute_url())
    return render(request, "pipeline/deal_form.html", {"nav": "board", "form": form}, status=status)


@require_POST
def deal_snooze_view(request, pk):
    """POST /pipeline/deals/<id>/snooze/ with `until`, `reason` and `version`; `clear` ends the snooze."""
    deal = _changeable_deal(request.user, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        return _refusal(request, message=message, status=400, deal=deal)
    data = form.cleaned_data
    clear = bool(request.POST.get("clear"))
    if not clear and not data.get("until"):
        return _refusal(request, message=_("Choose until when to snooze the warning."), status=400, deal=deal)
    try:
        services.deal_snooze_rotting(
            deal=deal.pk, actor=request.user, until=None if clear else data["until"],
            reason="" if clear else data["reason"], expected_version=data["version"],
        )
    except PipelineError as refusal:
        return _refusal(request, message=refusal.message, status=refusal.status_code, deal=deal)
    messages.success(request, _("Rotting warning shown again.") if clear else _("Rotting warning snoozed."))
    return redirect(deal.get_absolute_url())


# --- Lead pages ------------------------------------------------------------------------------


def lead_list(request):
    """The lead list lives in the qualification app (fit score, filters, sorting by fit); an old
    link or bookmark to /pipeline/leads/ arrives there with its search."""
    target = reverse("qualification:lead_list")
    q = (request.GET.get("q") or "").strip()[:100]
    return redirect(f"{target}?{urlencode({'q': q})}" if q else target)


def _visible_lead_or_404(user, pk: int) -> Lead:
    return selectors.lead_for_user_or_404(user, pk, queryset=Lead.objects.select_related("owner"))


@require_safe
def lead_detail(request, pk):
    user = request.user
    lead = _visible_lead_or_404(user, pk)
    deals = (
        selectors.visible_deals(user).filter(lead=lead).select_related("stage", "owner", "lost_reason")
        .order_by("status", "-stage_entered_at", "-pk")
    )
    can_change = selectors.can_change_lead(user, lead)
    context = {
        "nav": "leads", "lead": lead, "deals": deals, "can_change": can_change,
        "is_customer": Deal.objects.filter(lead=lead, status=DealStatus.WON).exists(),
        "panels": [
            html for panel in extensions.lead_panels() if (html := panel(request=request, lead=lead, can_change=can_change))
        ],
    }
    return render(request, "pipeline/lead_detail.html", context)


@require_http_methods(["GET", "POST"])
def lead_create(request):
    form = LeadForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            lead = lead_services.lead_create(actor=request.user, **form.cleaned_data)
            messages.success(request, _("Lead “%(lead)s” created.") % {"lead": lead.name})
            return redirect(lead.get_absolute_url())
        return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form}, status=400)
    return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form})


@require_http_methods(["GET", "POST"])
def lead_edit(request, pk):
    lead = selectors.lead_for_user_or_404(
        request.user, pk, change=True, queryset=Lead.objects.select_related("owner")
    )
    form = LeadForm(request.POST or None, instance=lead, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            lead_services.lead_update(lead=lead, actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data})
            messages.success(request, _("Lead saved."))
            return redirect(lead.get_absolute_url())
        return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form, "lead": lead}, status=400)
    return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form, "lead": lead})
