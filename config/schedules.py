"""All periodic Celery schedules of Stageflow, in one place."""
from celery.schedules import crontab

CELERY_BEAT_SCHEDULE: dict = {
    "imports-prune": {"task": "imports.tasks.imports_prune", "schedule": crontab(hour=3, minute=30)},
}
