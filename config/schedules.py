"""All periodic Celery schedules of Stageflow, in one place."""
from celery.schedules import crontab

CELERY_BEAT_SCHEDULE: dict = {
    # Follow-ups of changes (webhook deliveries, onboarding, offer withdrawal, forecast refresh)
    # that no after-commit dispatch carried out: written while the broker or the worker was
    # away, or failed and due again.
    "outbox-sweep": {
        "task": "outbox.tasks.outbox_sweep",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # The safety net behind the after-commit refreshes: recomputes every pipeline's forecast,
    # so a refresh lost while the broker was down is made up within minutes.
    "forecast-refresh-all": {
        "task": "forecasting.tasks.forecast_refresh_all",
        "schedule": crontab(minute="*/10"),
        # A backlog of these while no worker runs is useless; the newest one is enough.
        "options": {"expires": 9 * 60},
    },
    # Learned probabilities first, so that the snapshot after it uses today's fit in the admin.
    "forecasting-refit-learned-probabilities": {
        "task": "forecasting.tasks.learned_probabilities_refit_all",
        "schedule": crontab(hour=1, minute=30),
    },
    "forecasting-daily-snapshot": {
        "task": "forecasting.tasks.forecast_snapshot_daily",
        "schedule": crontab(hour=2, minute=0),
    },
    # The board's column totals of open deals are kept by database triggers; this recount
    # reports (and repairs) any difference, which would mean a write path the triggers miss.
    "pipeline-open-stage-totals-check": {
        "task": "pipeline.tasks.open_stage_totals_check",
        "schedule": crontab(hour=4, minute=10),
    },
    # Forget uploads that were never imported.
    "imports-prune": {"task": "imports.tasks.imports_prune", "schedule": crontab(hour=3, minute=30)},
    # Sent offers whose link ran out are marked expired (the link itself stops at once anyway).
    "offers-expire": {"task": "offers.tasks.offers_expire", "schedule": crontab(minute=15)},
    # Reference exchange rates, once the source has published the day's (only when
    # STAGEFLOW_RATES_FETCH_ENABLED: the task does nothing otherwise). A missed day is made up by the
    # next run, whose file covers the last 90 days.
    "exchange-rates-fetch": {
        "task": "currencies.tasks.exchange_rates_fetch",
        "schedule": crontab(hour=16, minute=45),
        "options": {"expires": 6 * 60 * 60},
    },
    # Deleted files leave the storage once their grace period (STAGEFLOW_FILES_DELETE_GRACE_DAYS) is over.
    "attachments-purge": {
        "task": "attachments.tasks.attachments_purge",
        "schedule": crontab(minute=40),
        "options": {"expires": 50 * 60},
    },
    # Every connected mailbox: new mail since the last sync (one task per mailbox, never two at once).
    "mail-sync-all": {
        "task": "mail.tasks.mail_sync_all",
        "schedule": 5 * 60.0,
        "options": {"expires": 4 * 60},
    },
}
