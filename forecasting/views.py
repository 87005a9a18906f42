"""The manager dashboard: what will close, how sure that is, and how good past forecasts were."""

from django.http import Http404
from django.shortcuts import render

from . import selectors, tasks
from .display import with_period_names


def dashboard(request):
    try:
        filters = selectors.dashboard_filters(request.user, request.GET)
    except selectors.NotVisible:
        raise Http404 from None
    # Laptop mode has no worker: snapshots catch up with deal changes when the dashboard opens.
    tasks.forecast_refresh_if_pending(pipeline_id=filters.pipeline.pk)
    data = selectors.dashboard(request.user, filters)
    freshness = selectors.forecast_freshness(filters.pipeline.pk)
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
        },
    )
