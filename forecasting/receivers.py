"""Forecasting follows the pipeline's deal events (run from the outbox, after the commit); the
pipeline app never imports forecasting."""

import logging

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
