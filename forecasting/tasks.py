"""Celery tasks of forecasting. Thin: ids in, a service call, idempotent, never overlapping."""
import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def forecast_refresh_schedule(*, pipeline_id: int) -> None:
    """Ask for a recompute of the pipeline's forecast (called after commit)."""
    try:
        forecast_refresh.delay(pipeline_id)
    except Exception:  # broker down: the next scheduled run recomputes; never break a move
        logger.warning("Could not enqueue the forecast refresh of pipeline %s", pipeline_id, exc_info=True)


@shared_task(acks_late=True)
def forecast_refresh(pipeline_id: int) -> None:
    from .services import forecast_refresh_pipeline

    forecast_refresh_pipeline(pipeline_id=pipeline_id)
