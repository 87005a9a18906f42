"""GET /search/?q=…: the deals, organisations and people the user may see. A full page; the top
bar's dropdown (an HTMX request); JSON for `Accept: application/json`. `kind=` shows one kind, more
of it ("show all")."""
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from . import selectors
from .forms import SearchForm
from .presenters import results_json


def _wants_json(request) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


@require_safe
def search_view(request):
    form = SearchForm(request.GET)
    text, kind = form.cleaned()
    dropdown = bool(request.htmx) and not request.htmx.history_restore_request and not _wants_json(request)
    if kind:
        kinds, limit = (kind,), selectors.KIND_LIMIT
    else:
        kinds, limit = selectors.KINDS, selectors.DROPDOWN_LIMIT if dropdown else selectors.OVERVIEW_LIMIT
    results = selectors.search(request.user, text, kinds=kinds, limit=limit)
    if _wants_json(request):
        response = JsonResponse(results_json(results, kind=kind))
    else:
        template = "search/results.html#dropdown" if dropdown else "search/results.html"
        context = {"form": form, "text": text, "kind": kind, "results": results, "nav": "search"}
        response = render(request, template, context)
    patch_vary_headers(response, ["Accept", "HX-Request"])
    return response
