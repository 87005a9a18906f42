"""Forecasting listens to the pipeline's deal events; the pipeline app never imports forecasting."""

from django.dispatch import receiver

from pipeline.signals import deals_changed


@receiver(deals_changed, dispatch_uid="forecasting.deals_changed")
def schedule_forecast_refresh(sender, pipeline_ids, deal_ids, kind, **kwargs):
    from .tasks import forecast_refresh_schedule

    for pipeline_id in pipeline_ids:
        forecast_refresh_schedule(pipeline_id=pipeline_id)
