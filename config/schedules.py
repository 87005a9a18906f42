"""All periodic Celery schedules of Stageflow, in one place."""
from celery.schedules import crontab

CELERY_BEAT_SCHEDULE: dict = {}
