"""The lists of deals, organisations, people and activities, their saved views and their CSV.

One URL per list; its query string is the filter language of pipeline.filters, the columns
(`cols`), the sort (`sort`) and the page (`after`), so every list a person sees is a link they can
share. An HTMX request gets the table alone.
"""
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from exports.services import Column, CsvStyle, csv_lines
from pipeline.filters import OPERATORS
from pipeline.views.common import is_partial, varies_with_htmx

from . import services
from .models import DefaultView, ListKind
from .selectors import list_page, list_rows_all, list_state
from .specs import SPECS

# A rep's deal list starts on their own open deals until they choose another default.
MY_DEALS = "owner=me&status=open"
PAGE_PARAMS = ("after", "format")


def _url(kind: str, params, **changes) -> str:
    pairs = [(k, v) for k, values in params.lists() for v in values if k not in changes and k not in PAGE_PARAMS]
    for key, value in changes.items():
        if value is not None:
            pairs.append((key, value))
    query = urlencode(pairs)
    return reverse("lists:list", args=[kind]) + (f"?{query}" if query else "")


def _effective_params(request, kind: str):
    """The list's query: the address's, a saved view's, the person's default, or the list's own."""
    params = request.GET
    user = request.user
    saved = None
    if params.get("saved", "").isdigit():
        saved = get_object_or_404(services.visible_saved_views(user, kind), pk=params["saved"])
        merged = QueryDict(saved.query, mutable=True)
        for key in PAGE_PARAMS:
            if key in params:
                merged.setlist(key, params.getlist(key))
        return merged, saved
    if not [k for k in params if k not in PAGE_PARAMS]:
        default = DefaultView.objects.filter(user=user, kind=kind).select_related("view").first()
        if default is not None:
            merged = QueryDict(default.view.query, mutable=True)
            for key in PAGE_PARAMS:
                if key in params:
                    merged.setlist(key, params.getlist(key))
            return merged, default.view
        if kind == ListKind.DEALS and not (user.is_manager or user.is_admin):
            merged = QueryDict(MY_DEALS, mutable=True)
            for key in PAGE_PARAMS:
                if key in params:
                    merged.setlist(key, params.getlist(key))
            return merged, None
    return params, None


def _add_filter(request, kind: str):
    """The "add a filter" form (works without JavaScript): its field, operator and value become
    one parameter of the list's address."""
    name, op, value = request.GET.get("add_field", ""), request.GET.get("add_op", "eq"), request.GET.get("add_value", "")
    params = request.GET.copy()
    for key in ("add_field", "add_op", "add_value", "after"):
        params.pop(key, None)
    if name and op in OPERATORS:
        params.appendlist(name if op == "eq" else f"{name}__{op}", value if op != "empty" else (value or "1"))
    query = params.urlencode()
    return redirect(reverse("lists:list", args=[kind]) + (f"?{query}" if query else ""))


def _export(kind: str, user, params, state):
    columns = [Column(c.label, lambda row, i=i: row.cells[i]) for i, c in enumerate(state.columns)]
    style = CsvStyle.for_language()
    response = StreamingHttpResponse(csv_lines(columns, list_rows_all(kind, user, params), style=style),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
    return response


@require_GET
def lists_home(request):
    return redirect("lists:list", kind=ListKind.DEALS)


@require_GET
def list_view(request, kind):
    """GET /lists/<kind>/ — a list: tabs (deals), filters, chosen columns, sort, totals, a page."""
    if kind not in SPECS:
        raise Http404
    if "add_field" in request.GET:
        return _add_filter(request, kind)
    params, saved = _effective_params(request, kind)
    if params.get("format") == "csv":
        return _export(kind, request.user, params, list_state(kind, request.user, params))
    page = list_page(kind, request.user, params)
    state = page.state
    spec = state.spec
    filters = [
        {"label": c.field.label, "op": c.op,
         "value": _("me") if c.raw == "me" else dict(c.field.choices).get(c.value, c.raw) if c.field.choices else c.raw,
         "remove_url": _remove_url(kind, params, c)}
        for c in state.parsed.conditions
    ]
    columns = [
        {"field": c, "sort_url": _url(kind, params, sort=("" if state.descending or state.sort.name != c.name else "-") + c.name),
         "sorted": state.sort.name == c.name, "descending": state.descending}
        for c in state.columns
    ]
    tabs = [
        {"key": t.key, "label": t.label,
         "url": _url(kind, params, status=None, view="all") if not t.params else _url(kind, params, view=None, **dict(t.params)),
         "active": state.tab == t.key}
        for t in spec.tabs
    ]
    kept = [(k, v) for k, values in params.lists() for v in values if k not in PAGE_PARAMS and k != "cols"]
    context = {
        "nav": "lists", "kind": kind, "spec": spec, "page": page, "state": state, "filters": filters,
        "columns": columns, "tabs": tabs, "saved": saved, "kept": kept,
        "kept_all": [(k, v) for k, values in params.lists() for v in values if k not in PAGE_PARAMS],
        "fields": state.fields, "chosen": {c.name for c in state.columns},
        "operators": OPERATORS,
        "next_url": _url(kind, params, after=page.next_cursor) if page.next_cursor else "",
        "first_url": _url(kind, params) if request.GET.get("after") else "",
        "csv_url": _url(kind, params, format="csv"),
        "share_url": request.build_absolute_uri(_url(kind, params, saved=None)),
        "saved_views": list(services.visible_saved_views(request.user, kind).select_related("owner")),
        "lists": [(k, SPECS[k].label) for k in SPECS],
        "title_index": next((i for i, c in enumerate(state.columns) if c.name == spec.title_column), None),
    }
    if kind == ListKind.DEALS and not is_partial(request):
        context["bulk"] = _bulk_choices(request.user, state)
    template = "lists/list.html#table" if is_partial(request) else "lists/list.html"
    return varies_with_htmx(render(request, template, context))


def _bulk_choices(user, state) -> dict:
    from activities.models import ActivityKind
    from pipeline import selectors
    from pipeline.models import LostReason

    from .bulk import SETTABLE_FIELDS

    by_name = {f.name: f for f in state.fields}
    return {
        "stages": next(f for f in state.fields if f.name == "stage").choices,
        "owners": [(u.pk, str(u)) for u in selectors.assignable_users(user).order_by("first_name", "last_name", "username")],
        "reasons": [(r.pk, str(r)) for r in LostReason.objects.filter(is_active=True).order_by("position", "pk")],
        "fields": [(name, by_name[name].label) for name in SETTABLE_FIELDS if name in by_name]
        + [(f.name, f.label) for f in state.fields if f.is_custom and f.name.startswith("cf.")],
        "activity_kinds": ActivityKind.choices,
        "can_delete": user.is_admin,
    }


def _remove_url(kind, params, condition) -> str:
    key = condition.field.name if condition.op == "eq" else f"{condition.field.name}__{condition.op}"
    copy = params.copy() if hasattr(params, "copy") else QueryDict(mutable=True)
    values = [v for v in copy.getlist(key) if v != condition.raw]
    copy.setlist(key, values)
    if not values:
        copy.pop(key)
    if key == "status" and not values:
        copy["view"] = "all"
    return _url(kind, copy)


@require_POST
def saved_view_create(request, kind):
    """POST /lists/<kind>/views/ — save the list's current query (the form's hidden fields) under a name."""
    if kind not in SPECS:
        raise Http404
    try:
        view = services.saved_view_create(
            actor=request.user, kind=kind, name=request.POST.get("name", ""), params=request.POST,
            share_with_team=bool(request.POST.get("share")), pinned=bool(request.POST.get("pin")),
            make_default=bool(request.POST.get("make_default")),
        )
    except services.SavedViewRefused as refusal:
        messages.error(request, refusal.message)
        return redirect(_url(kind, request.POST.copy()))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(view.get_absolute_url())


def _own_view(request, pk):
    return get_object_or_404(services.visible_saved_views(request.user).filter(owner=request.user), pk=pk)


@require_POST
def saved_view_delete(request, pk):
    view = _own_view(request, pk)
    kind = view.kind
    services.saved_view_delete(actor=request.user, view=view)
    messages.success(request, _("View deleted."))
    return redirect("lists:list", kind=kind)


@require_POST
def saved_view_pin(request, pk):
    view = _own_view(request, pk)
    services.saved_view_pin(actor=request.user, view=view, pinned=request.POST.get("pinned") != "0")
    return redirect(view.get_absolute_url())


@require_POST
def saved_view_default(request, pk):
    """POST — the view this person's list opens with (their own or their team's); `clear` undoes it."""
    view = get_object_or_404(services.visible_saved_views(request.user), pk=pk)
    services.default_view_set(actor=request.user, view=None if request.POST.get("clear") else view, kind=view.kind)
    messages.success(request, _("Default view set.") if not request.POST.get("clear") else _("Default view cleared."))
    return redirect(view.get_absolute_url())


@require_GET
def pinned_views(request):
    """GET /lists/pinned/ — the pinned views, for the navigation's menu (loaded when it opens)."""
    views = services.visible_saved_views(request.user).filter(pinned=True).order_by("kind", "name", "pk")
    return render(request, "lists/_pinned.html", {"views": views})


# --- Bulk changes -----------------------------------------------------------------------------------


@require_POST
def bulk_start(request, kind):
    """POST /lists/deals/bulk/ — one change for the ticked deals (`ids`) or, with `all`, for every
    deal the list's filter (the form's other fields) matches."""
    if kind != ListKind.DEALS:
        raise Http404
    from .bulk import MAX_BULK, BulkRefused, bulk_change_start
    from .selectors import list_queryset

    user = request.user
    # The change's own fields are "bulk_…"; the rest is the list's query (for "all matching").
    data = {key.removeprefix("bulk_"): value for key, value in request.POST.items() if key.startswith("bulk_")}
    query = request.POST.copy()
    for key in [*(k for k in request.POST if k.startswith("bulk_")), "ids", "all", "csrfmiddlewaretoken"]:
        query.pop(key, None)
    if request.POST.get("all"):
        ids = list(list_queryset(list_state(kind, user, query), user).values_list("pk", flat=True)[:MAX_BULK])
    else:
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    try:
        change = bulk_change_start(actor=user, action=data.get("action", ""), data=data, deal_ids=ids)
    except BulkRefused as refusal:
        messages.error(request, refusal.message)
        return redirect(_url(kind, query))
    return redirect("lists:bulk_status", pk=change.pk)


def _own_change(request, pk):
    from .models import BulkChange

    return get_object_or_404(BulkChange.objects.filter(actor=request.user), pk=pk)


@require_GET
def bulk_status(request, pk):
    """GET /lists/bulk/<id>/ — a bulk change's progress, its refused deals and its undo."""
    change = _own_change(request, pk)
    context = {"nav": "lists", "change": change, "running": change.status in ("queued", "running")}
    template = "lists/bulk.html#progress" if is_partial(request) else "lists/bulk.html"
    return varies_with_htmx(render(request, template, context))


@require_POST
def bulk_undo(request, pk):
    from .bulk import BulkRefused, bulk_change_undo

    change = _own_change(request, pk)
    try:
        not_undone = bulk_change_undo(change=change, actor=request.user)
    except BulkRefused as refusal:
        messages.error(request, refusal.message)
    else:
        if not_undone:
            messages.warning(request, _("Undone, except for the deals listed below."))
        else:
            messages.success(request, _("The bulk change was undone."))
    return redirect("lists:bulk_status", pk=change.pk)
