"""Moves and status changes of a deal, from the board (HTMX) or without JavaScript: move, lose, reopen."""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import selectors, services
from ..cards import present_cards
from ..exceptions import PipelineError, VersionConflict
from ..forms import LoseForm, MoveForm, VersionForm
from ..models import Deal, Stage
from .common import (
    DEAL_PAGE_TOAST,
    board_state,
    board_url_for,
    changeable_deal,
    column_headers,
    current_state_context,
    deal_page_queryset,
    is_partial,
    refused,
    refusals_shown_on_board,
    safe_next,
    toast,
)


def _deal_to_move(user, pk: int, stage_id: int) -> Deal:
    """The deal a move reads (selectors.deal_to_move), with what its card shows: 404 when the
    user may not see it, 403 when they may only see it."""
    deal = selectors.deal_to_move(user, pk=pk, stage=stage_id, queryset=deal_page_queryset(as_card=True)).first()
    if deal is None:  # unknown or hidden: the 404 of any deal the user may not see
        return selectors.deal_for_user_or_404(user, pk, change=True, queryset=deal_page_queryset(as_card=True))
    if not selectors.can_change_deal(user, deal):
        raise PermissionDenied(_("You can see this deal but not change it."))
    return deal


@require_POST
@refusals_shown_on_board
def deal_move_view(request, pk):
    """POST /pipeline/deals/<id>/move/ with `stage` and `version`: one move through deal_move."""
    form = MoveForm(request.POST)
    valid = form.is_valid()
    if valid:
        # The target stage arrives with the deal, in the same query.
        deal = _deal_to_move(request.user, pk, form.cleaned_data["stage"])
    else:
        deal = selectors.deal_for_user_or_404(request.user, pk, change=True, queryset=deal_page_queryset(as_card=True))
        message = next(iter(form.errors.values()))[0]
        return refused(request, message=message, status=400, deal=deal)
    stage_id, version = form.cleaned_data["stage"], form.cleaned_data["version"]

    to_stage = getattr(deal, "target_stage", None)  # not set when the join found no such stage
    if to_stage is None:
        other = Stage.objects.filter(pk=stage_id).first()
        if other is None:
            message = _("This stage does not exist.")
        else:
            message = _("“%(stage)s” belongs to another pipeline.") % {"stage": other}
        return refused(request, message=message, status=400, deal=deal)
    from_stage = deal.stage

    filters = board_state(request)
    try:
        # The deal as read above (with its stage, lead and pipeline): the service locks and reads
        # the row again, one statement, and keeps those objects where the row still points at them.
        moved = services.deal_move(deal=deal, to_stage=to_stage, actor=request.user, expected_version=version)
    except VersionConflict as conflict:
        extra = current_state_context(request, conflict.deal, filters) if is_partial(request) else None
        return refused(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return refused(request, message=refusal.message, status=refusal.status_code, deal=deal)

    if request.POST.get("undo"):
        message = _("“%(deal)s” moved back to %(stage)s.") % {"deal": moved.title, "stage": to_stage}
    else:
        message = _("“%(deal)s” moved to %(stage)s.") % {"deal": moved.title, "stage": to_stage}
    undo = _undo(moved, from_stage) if from_stage.pk != to_stage.pk else None
    if not is_partial(request):
        target = safe_next(request, reverse("pipeline:board") + f"?pipeline={deal.pipeline_id}")
        if undo and target == deal.get_absolute_url():
            # Back on the deal page the move is confirmed as on the board: a toast with Undo.
            request.session[DEAL_PAGE_TOAST] = {"deal": deal.pk, **toast(message, undo=undo)}
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
        # What the card shows besides the deal (next activity, customer, …) was read with the deal
        # before the move, which does not change it when the deal stays open.
        for name in selectors.card_annotation_names():
            setattr(moved, name, getattr(deal, name))
    present_cards([moved], user=request.user)
    header_stages = [from_stage] if from_stage.pk == to_stage.pk else [from_stage, to_stage]
    context = {
        "card": moved,
        "removed_id": moved.pk,
        "headers": column_headers(user=request.user, pipeline_id=deal.pipeline_id, stages=header_stages, filters=filters),
        "toasts": [toast(message, undo=undo)],
        "board_url": board_url_for(request),
    }
    return render(request, "pipeline/_oob.html", context)


def _undo(deal: Deal, back_to: Stage) -> dict:
    """What a toast's "Undo" button posts: an ordinary move back, so the move service checks the
    rules and the version again and history records it like any other move."""
    return {"url": reverse("pipeline:deal_move", args=[deal.pk]), "stage": back_to.pk, "stage_name": str(back_to),
            "version": deal.version, "label": _("Undo: move back to %(stage)s") % {"stage": back_to}}


def _undo_lost(deal: Deal) -> dict:
    """What the "Undo" of a lost toast posts: an ordinary reopen (deal_reopen_view), with the
    version the loss left, so a change made since is a conflict and not overwritten."""
    return {"url": reverse("pipeline:deal_reopen", args=[deal.pk]), "version": deal.version,
            "label": _("Undo: reopen “%(deal)s”") % {"deal": deal.title}}


@require_POST
@refusals_shown_on_board
def deal_lose_view(request, pk):
    """POST /pipeline/deals/<id>/lose/ with `reason`, `note` and `version`."""
    deal = changeable_deal(request.user, pk)
    form = LoseForm(request.POST)
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        return refused(request, message=message, status=400, deal=deal)
    filters = board_state(request)
    try:
        lost = services.deal_mark_lost(
            deal=deal.pk, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
            actor=request.user, expected_version=form.cleaned_data["version"],
        )
    except VersionConflict as conflict:
        extra = current_state_context(request, conflict.deal, filters) if is_partial(request) else None
        return refused(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return refused(request, message=refusal.message, status=refusal.status_code, deal=deal)

    message = _("“%(deal)s” marked lost: %(reason)s.") % {"deal": lost.title, "reason": form.cleaned_data["reason"]}
    if not is_partial(request):
        messages.success(request, message)
        return redirect(safe_next(request, deal.get_absolute_url()))
    context = {
        "card": None,
        "removed_id": lost.pk,
        "headers": column_headers(user=request.user, pipeline_id=deal.pipeline_id, stages=[deal.stage], filters=filters),
        "toasts": [toast(message, undo=_undo_lost(lost))],
        "board_url": board_url_for(request),
    }
    return render(request, "pipeline/_oob.html", context)


@require_POST
@refusals_shown_on_board
def deal_reopen_view(request, pk):
    """POST /pipeline/deals/<id>/reopen/ with `version`: a lost deal returns to its stage."""
    deal = changeable_deal(request.user, pk)
    form = VersionForm(request.POST)
    if not form.is_valid():
        return refused(request, message=form.errors["version"][0], status=400, deal=deal)
    filters = board_state(request)
    try:
        reopened = services.deal_reopen(deal=deal.pk, actor=request.user, expected_version=form.cleaned_data["version"])
    except VersionConflict as conflict:
        extra = current_state_context(request, conflict.deal, filters) if is_partial(request) else None
        return refused(request, message=conflict.message, status=409, deal=conflict.deal, extra=extra)
    except PipelineError as refusal:
        return refused(request, message=refusal.message, status=refusal.status_code, deal=deal)

    message = _("“%(deal)s” is open again.") % {"deal": reopened.title}
    if not is_partial(request):
        messages.success(request, message)
        return redirect(safe_next(request, deal.get_absolute_url()))
    context = current_state_context(request, reopened, filters)
    context.update(toasts=[toast(message)], board_url=board_url_for(request))
    return render(request, "pipeline/_oob.html", context)
