"""A fixed-window request counter in the cache (Redis in production, memory on a laptop).

While the cache is unreachable, the customer's page must keep working: the counting falls back
to a counter in this process (so each server process allows up to the limit on its own), and the
outage is logged once when it begins and once when the cache answers again.
"""
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache

from config.cache import unreachable_errors

logger = logging.getLogger(__name__)

# The fallback must not grow without bound when many addresses knock during an outage.
LOCAL_MAX_KEYS = 10_000


class _LocalCounters:
    def __init__(self):
        self.lock = threading.Lock()
        self.counters: dict[str, tuple[float, int]] = {}  # key -> (window start, count)
        self.degraded = False


_local = _LocalCounters()


def local_counters_clear() -> None:
    with _local.lock:
        _local.counters.clear()
        _local.degraded = False


def local_allow(key: str, *, limit: int, window: int) -> bool:
    """The same fixed window as `allow`, counted in this process only."""
    now = time.time()
    with _local.lock:
        counters = _local.counters
        start, count = counters.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        counters.pop(key, None)  # re-inserted last: the dict's order is the order of last use
        counters[key] = (start, count + 1)
        if len(counters) > LOCAL_MAX_KEYS:
            _local_prune(now, window)
        return count + 1 <= limit


def _local_prune(now: float, window: int) -> None:
    counters = _local.counters
    for key in [key for key, (start, _count) in counters.items() if now - start >= window]:
        del counters[key]
    while len(counters) > LOCAL_MAX_KEYS:
        del counters[next(iter(counters))]  # least recently used first


def _shared_allow(cache_key: str, *, limit: int, window: int) -> bool:
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window)
        count = 1
    return count <= limit


def allow(key: str, *, limit: int, window: int) -> bool:
    """Count one request for `key`; False once more than `limit` came within `window` seconds."""
    cache_key = f"offers:rl:{key}"
    try:
        allowed = _shared_allow(cache_key, limit=limit, window=window)
    except unreachable_errors():
        if not _local.degraded:
            _local.degraded = True
            logger.warning(
                "Cache unreachable: the offer links' rate limit counts in this process only until it is back.",
                exc_info=True,
            )
        return local_allow(cache_key, limit=limit, window=window)
    if _local.degraded:
        _local.degraded = False
        logger.warning("Cache reachable again: the offer links' rate limit is shared again.")
    return allowed


def public_request_allowed(*, ip: str, token_key: str) -> bool:
    """Per client address and per link, so neither guessing tokens nor hammering one link pays."""
    conf = settings.STAGEFLOW
    window = conf.get("OFFER_RATE_LIMIT_WINDOW", 600)
    by_ip = allow(f"ip:{ip}", limit=conf.get("OFFER_RATE_LIMIT_PER_IP", 60), window=window)
    by_token = allow(f"token:{token_key}", limit=conf.get("OFFER_RATE_LIMIT_PER_TOKEN", 30), window=window)
    return by_ip and by_token
