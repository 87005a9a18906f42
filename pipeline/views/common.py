"""What the board, move and deal views share: reading the deal a request names, refusals, toasts, and the
column headers an HTMX answer refreshes."""
from dataclasses import dataclass
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404

from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .. import organizations as organization_services
from .. import selectors
from ..cards import present_cards
from ..forms import BoardStateForm
from ..models import Deal, DealStatus, Organization, Stage


def is_partial(request) -> bool:
    """An HTMX request that wants a fragment (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def varies_with_htmx(response):
    """The same URL answers a page or, for htmx, a part of it: caches must keep them apart."""
    patch_vary_headers(response, ["HX-Request"])
    return response


def safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def board_url_for(request) -> str:
    """Where an HTMX-rendered card's non-JS fallback should lead back to: the page it lives on."""
    if request.htmx and request.htmx.current_url_abs_path:
        return request.htmx.current_url_abs_path
    return reverse("pipeline:board")


def deal_page_queryset(*, as_card: bool = False):
    deals = Deal.objects.all()
    if as_card:
        deals = selectors.card_queryset(deals)
    return deals.select_related("owner", "organization", "stage", "pipeline")


def visible_deal_or_404(user, pk: int, *, as_card: bool = False) -> Deal:
    """The deal if the user may see it; unknown and hidden deals both answer 404. `as_card` reads
    it with what the card query shows too (same query), for views that re-render its card."""
    return selectors.deal_for_user_or_404(user, pk, queryset=deal_page_queryset(as_card=as_card))


def changeable_deal(user, pk: int, *, as_card: bool = False) -> Deal:
    """The deal if the user may change it: 404 when they may not see it, 403 when they only see it."""
    return selectors.deal_for_user_or_404(user, pk, change=True, queryset=deal_page_queryset(as_card=as_card))


@dataclass
class Header:
    """A column header: the stage and its totals under the board's filters."""

    stage: Stage
    totals: list
    converted: "selectors.ConvertedTotal | None" = None

    @property
    def count(self) -> int:
        return sum(t.count for t in self.totals)

    @property
    def amount_totals(self) -> list:
        return selectors.amount_totals(self.totals)


def column_headers(*, user, pipeline_id: int, stages: list[Stage], filters: dict) -> list[Header]:
    """Fresh column headers for `stages`, computed by the database in one query (with the rates that
    convert them)."""
    totals, converted = selectors.board_stage_totals(
        user=user, pipeline=pipeline_id, stage_ids=[s.pk for s in stages], **filters
    )
    return [Header(stage=s, totals=totals.get(s.pk, []), converted=converted.get(s.pk)) for s in stages]


def board_state(request) -> dict:
    return BoardStateForm(request.POST).filters()


def toast(message, level: str = "success", undo: dict | None = None) -> dict:
    return {"message": message, "level": level, "undo": undo}


# The session key of the toast a move from the deal page leaves for that page (shown once).
DEAL_PAGE_TOAST = "pipeline:deal_page_toast"


def shown_by_page(response):
    """Mark an HTMX error response that the page swaps in itself (board.js), so that
    django-htmx's DEBUG helper does not replace the whole page with it."""
    response["X-Stageflow-Refusal"] = "1"
    return response


def refused(request, *, message, status: int, deal: Deal | None = None, extra: dict | None = None):
    """A refused write: an HTMX fragment (toast, and the deal's current card on a conflict) or,
    without JavaScript, a small page that says why."""
    if is_partial(request):
        context = {"toasts": [toast(message, "danger")], "board_url": board_url_for(request), **(extra or {})}
        return shown_by_page(render(request, "pipeline/_oob.html", context, status=status))
    back = safe_next(request, deal.get_absolute_url() if deal else reverse("pipeline:board"))
    return render(request, "pipeline/refused.html", {"message": message, "back": back, "deal": deal}, status=status)


def refusals_shown_on_board(view):
    """A board request (HTMX) that the permission checks refuse, a deal the user may only read
    (403) or not see (404), answers like any other refusal: a toast on the page it came from,
    never an error page in its place. Without JavaScript Django's own 403 and 404 pages stay."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as denied:
            if not is_partial(request):
                raise
            return refused(request, message=str(denied) or _("You may not change this."), status=403)
        except Http404 as missing:
            if not is_partial(request):
                raise
            return refused(request, message=str(missing) or _("This no longer exists."), status=404)

    return wrapped


def current_state_context(request, current: Deal, filters: dict) -> dict:
    """What the board needs to show a deal as it is now: after a conflict, or a reopen."""
    stages = list(Stage.objects.filter(pipeline_id=current.pipeline_id).order_by("position", "pk"))
    stage = next(s for s in stages if s.pk == current.stage_id)
    card = None
    if current.status != DealStatus.LOST:
        card = selectors.card(current.pk)  # with what every card shows
        card.stage = stage
        present_cards([card], user=request.user)
    return {
        "card": card,
        "removed_id": current.pk,
        "headers": column_headers(user=request.user, pipeline_id=current.pipeline_id, stages=stages, filters=filters),
    }


def organization_by_name(user, name: str) -> Organization:
    name = name.strip()
    organization = selectors.visible_organizations(user).filter(name__iexact=name).order_by("pk").first()
    return organization or organization_services.organization_create(actor=user, name=name, owner=user)
