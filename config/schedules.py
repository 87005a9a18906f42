"""All periodic Celery schedules of Stageflow, in one place."""
from celery.schedules import crontab

CELERY_BEAT_SCHEDULE: dict = {
    # Learned probabilities first, so that the snapshot after it uses today's fit in the admin.
    "forecasting-refit-learned-probabilities": {
        "task": "forecasting.tasks.learned_probabilities_refit_all",
        "schedule": crontab(hour=1, minute=30),
    },
    "forecasting-daily-snapshot": {
        "task": "forecasting.tasks.forecast_snapshot_daily",
        "schedule": crontab(hour=2, minute=0),
    },
    # Forget uploads that were never imported.
    "imports-prune": {"task": "imports.tasks.imports_prune", "schedule": crontab(hour=3, minute=30)},
    # Sent offers whose link ran out are marked expired (the link itself stops at once anyway).
    "offers-expire": {"task": "offers.tasks.offers_expire", "schedule": crontab(minute=15)},
}
