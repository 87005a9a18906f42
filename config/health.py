"""`GET /healthz`: is this Stageflow able to serve and to process work?

Answers JSON with one entry per dependency, 200 when all are fine and 503 otherwise. It names
kinds of backends and counts, never addresses, user names or passwords, and error details are
reduced to the exception's class so that a connection string cannot leak through a message.
"""
import logging
import time
import uuid

from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app

logger = logging.getLogger(__name__)

PING_TIMEOUT = 1.0  # seconds to wait for workers to answer
BROKER_CONNECT_TIMEOUT = 2


def _timed(check):
    started = time.monotonic()
    try:
        result = check()
    except Exception as error:  # any failure of a dependency is a status, not a crash
        logger.warning("Health check %s failed", check.__name__, exc_info=True)
        result = {"status": "error", "error": type(error).__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def check_cache() -> dict:
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    # add() is the one write that reports an outage instead of shrugging it off (config/cache.py).
    token = uuid.uuid4().hex
    key = f"healthz:probe:{token}"
    ok = cache.add(key, token, timeout=30) and cache.get(key) == token
    cache.delete(key)
    backend = "redis" if isinstance(cache, RedisCache) else "memory"
    return {"status": "ok" if ok else "error", "backend": backend}


def _eager() -> bool:
    return bool(celery_app.conf.task_always_eager)


def check_broker() -> dict:
    if _eager():
        return {"status": "eager"}
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_CONNECT_TIMEOUT)
        transport = conn.transport_cls
    return {"status": "ok", "transport": str(transport)}


def check_workers(broker: dict) -> dict:
    if broker["status"] == "eager":
        return {"status": "eager"}
    if broker["status"] != "ok":
        return {"status": "unknown", "count": 0}
    replies = celery_app.control.ping(timeout=PING_TIMEOUT) or []
    count = len(replies)
    return {"status": "ok" if count else "error", "count": count}


@never_cache
@login_not_required
@require_GET
def healthz(request):
    checks = {
        "database": _timed(check_database),
        "cache": _timed(check_cache),
        "broker": _timed(check_broker),
    }

    def workers():
        return check_workers(checks["broker"])

    checks["workers"] = _timed(workers)
    healthy = all(c["status"] in ("ok", "eager") for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )
