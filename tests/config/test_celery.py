"""Celery settings that decide what happens to a task when its worker dies."""
from config.celery import app as celery_app


def stageflow_tasks():
    app_modules = ("accounts.", "pipeline.", "forecasting.", "activities.", "qualification.", "imports.", "exports.",
                   "offers.", "api.", "outbox.")
    return {name: task for name, task in celery_app.tasks.items() if name.startswith(app_modules)}


def test_a_killed_worker_s_task_is_delivered_again_once_it_cannot_be_running_any_more(settings):
    """Redis hands an unacknowledged task to another worker after the visibility timeout: it must
    be longer than any task may run (or a running task would run twice), and not the hour of
    Redis's default, which left a killed recompute undone."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = {name: task.time_limit or celery_app.conf.task_time_limit for name, task in stageflow_tasks().items()}
    assert limits and all(limits.values()), "every task has a hard time limit"
    assert max(limits.values()) == settings.TASK_LONGEST_TIME_LIMIT, limits
    assert settings.TASK_LONGEST_TIME_LIMIT < visibility <= settings.TASK_LONGEST_TIME_LIMIT + 5 * 60
    assert visibility < 60 * 60
    # Workers look for such tasks often enough for the timeout to be what counts.
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] * settings.CELERY_BROKER_TRANSPORT_OPTIONS[
        "unacked_restore_throttle"
    ] <= 10


def test_tasks_are_acknowledged_when_done_and_given_back_when_their_worker_is_lost():
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost
    assert celery_app.conf.worker_prefetch_multiplier == 1
    for name, task in stageflow_tasks().items():
        assert task.acks_late, name
