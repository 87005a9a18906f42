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


# --- Scheduled forecasting tasks (see config/schedules.py) ------------------------------------


@shared_task(acks_late=True)
def forecast_snapshot_daily() -> int:
    """Snapshot every active pipeline's forecast for today; returns the rows written."""
    from pipeline.models import Pipeline

    from .services import forecast_refresh_pipeline

    written = 0
    for pipeline_id in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True):
        written += forecast_refresh_pipeline(pipeline_id=pipeline_id)["written"]
    return written


@shared_task(acks_late=True)
def learned_probabilities_refit_all() -> int:
    """Refit the learned stage probabilities of every active pipeline; returns the rows written."""
    from pipeline.models import Pipeline

    from .services import learned_probabilities_refit

    return sum(
        len(learned_probabilities_refit(pipeline_id=pipeline_id))
        for pipeline_id in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True)
    )
