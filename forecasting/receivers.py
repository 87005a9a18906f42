"""Forecasting follows the pipeline's deal events and changes of exchange rates (run from the
outbox, after the commit); the pipeline and currencies apps never import forecasting."""

import logging

from currencies.signals import rates_changed
from pipeline.signals import deals_changed

logger = logging.getLogger(__name__)


@deals_changed.handler("forecasting.refresh")
def schedule_forecast_refresh(*, pipeline_ids, past_changed=True, **payload):
    from .selectors import data_version_renew
    from .tasks import forecast_refresh_schedule

    for pipeline_id in pipeline_ids:
        try:
            # Figures cached for the dashboard are stale now; those about the past only when it changed.
            data_version_renew(pipeline_id, past=past_changed)
        except Exception:  # the cached figures then last until the day ends at the latest
            logger.warning("Could not renew the data version of pipeline %s", pipeline_id, exc_info=True)
        forecast_refresh_schedule(pipeline_id=pipeline_id)


@rates_changed.handler("forecasting.refresh_on_rates")
def schedule_forecast_refresh_on_rates(**payload):
    """New or changed exchange rates change the figures in the reporting currency: every active
    pipeline's forecast is recomputed (debounced, as after a move)."""
    from pipeline.models import Pipeline

    from .tasks import forecast_refresh_schedule

    for pipeline_id in Pipeline.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True):
        forecast_refresh_schedule(pipeline_id=pipeline_id)
