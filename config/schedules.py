"""All periodic Celery schedules of Stageflow, in one place."""
from celery.schedules import crontab

CELERY_BEAT_SCHEDULE: dict = {
    # Sent offers whose link ran out are marked expired (the link itself stops at once anyway).
    "offers-expire": {"task": "offers.tasks.offers_expire", "schedule": crontab(minute=15)},
}
