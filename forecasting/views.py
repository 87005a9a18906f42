"""The manager dashboard: what will close, how sure that is, and how good past forecasts were."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from . import selectors, services
from .display import with_period_names

# The dashboard's filters a recompute request carries back to the page it came from.
FILTER_FIELDS = ("pipeline", "period", "team", "owner")


@require_safe
def dashboard(request):
    """Shows what the latest recompute stored; a request never computes the forecast."""
    try:
        filters = selectors.dashboard_filters(request.user, request.GET)
    except selectors.NotVisible:
        raise Http404 from None
    data = selectors.dashboard(request.user, filters)
    freshness = selectors.forecast_freshness(filters.pipeline.pk, run=data["run"])
    for row, stats in zip(data["funnel"], data["stages"]):
        row.update({k: v for k, v in stats.items() if k != "stage"})
    with_period_names(data["periods"])
    with_period_names(data["accuracy"].periods)
    charts = {
        "periods": data["periods"],
        "funnel": data["funnel"],
        "accuracy": data["accuracy"].periods,
        "calibration": data["accuracy"].calibration,
    }
    return render(
        request,
        "forecasting/dashboard.html",
        {
            "nav": "forecast",
            "filters": filters,
            "data": data,
            "charts": charts,
            "freshness": freshness,
            "may_recompute": may_recompute(request.user),
        },
    )


def may_recompute(user) -> bool:
    return user.is_manager or user.is_admin


@require_POST
def recompute(request):
    """A manager asks for the pipeline's forecast now: the recompute is queued for the worker (in
    laptop mode it runs once this request has committed), then the dashboard shows its result."""
    if not may_recompute(request.user):
        raise PermissionDenied(_("Only managers and admins can recompute the forecast."))
    try:  # the pipeline shown (the default one when none is named), if the user may see it
        pipeline = selectors.dashboard_filters(request.user, request.POST).pipeline
    except selectors.NotVisible:
        raise Http404 from None
    services.forecast_recompute_request(pipeline_id=pipeline.pk)
    messages.info(request, _("The forecast is being recomputed. The figures below are replaced as soon as it is done."))
    query = urlencode({name: request.POST[name] for name in FILTER_FIELDS if request.POST.get(name)})
    return redirect(f"{reverse('forecasting:dashboard')}?{query}" if query else reverse("forecasting:dashboard"))
