"""Celery tasks of the exchange rates. Thin: a lock, then the fetch service; safe to run twice."""
from celery import shared_task
from django.conf import settings

from config.locks import cache_lock

FETCH_TIME_LIMIT = 120


@shared_task(acks_late=True, soft_time_limit=FETCH_TIME_LIMIT - 20, time_limit=FETCH_TIME_LIMIT)
def exchange_rates_fetch() -> dict:
    """Fetch today's reference rates when the installation allows it (off by default)."""
    from .fetching import rates_fetch

    if not settings.STAGEFLOW["RATES_FETCH_ENABLED"]:
        return {"status": "disabled"}
    with cache_lock("currencies:rates-fetch", timeout=FETCH_TIME_LIMIT) as acquired:
        if not acquired:
            return {"status": "running"}
        record = rates_fetch()
    return {"status": "ok" if record.ok else "failed", "written": record.rates_written, "fetch": record.pk}
