"""Reads from a PostgreSQL read replica, with read-your-own-writes.

With DATABASE_REPLICA_URL set (config/settings.py), reads of a GET request go to the `replica`
database alias, and everything else to the primary (`default`): writes, reads inside a
transaction, reads of any request that writes (POST, PUT, PATCH, DELETE), Celery tasks and
commands. A replica lags behind the primary by a little, so whoever just wrote is kept on the
primary for REPLICA_PIN_SECONDS afterwards: the request that wrote sets a cookie until then, and
that browser's reads stay on the primary while it lasts (a card that was just moved shows where it
went). Other people's reads use the replica at once; for them a change may appear a moment later,
as it would had they loaded the page a moment earlier.

The cookie holds nothing but the time the pin ends: the web processes keep no state, so any of
them can serve the next request. Without DATABASE_REPLICA_URL the router sends everything to
the primary and the middleware only costs a context variable.
"""
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

PIN_COOKIE = "stageflow_primary_until"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Outside a request (tasks, commands, tests) reads stay on the primary: only a request that is
# known to write nothing, from someone who wrote nothing lately, may read the replica.
_replica_allowed: ContextVar[bool] = ContextVar("stageflow_replica_allowed", default=False)


def replica_alias() -> str:
    return getattr(settings, "DATABASE_REPLICA_ALIAS", "") or ""


class ReplicaRouter:
    """Reads to the replica when the request allows it (ReadYourWritesMiddleware); writes,
    migrations and reads in a transaction to the primary."""

    def db_for_read(self, model, **hints):
        alias = replica_alias()
        if not alias or not _replica_allowed.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data in both

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def _pinned(request) -> bool:
    try:
        return float(request.COOKIES.get(PIN_COOKIE, "0")) > time.time()
    except ValueError:
        return False


class ReadYourWritesMiddleware:
    """Decides per request whether its reads may use the replica, and pins a browser that wrote to
    the primary for REPLICA_PIN_SECONDS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        writes = request.method not in SAFE_METHODS
        token = _replica_allowed.set(bool(replica_alias()) and not writes and not _pinned(request))
        try:
            response = self.get_response(request)
        finally:
            _replica_allowed.reset(token)
        if writes and replica_alias():
            seconds = settings.REPLICA_PIN_SECONDS
            response.set_cookie(
                PIN_COOKIE, f"{time.time() + seconds:.0f}", max_age=seconds, httponly=True, samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )  # fmt: skip
        return response
