"""A fixed-window request counter in the cache (Redis in production, memory on a laptop)."""
from django.conf import settings
from django.core.cache import cache


def allow(key: str, *, limit: int, window: int) -> bool:
    """Count one request for `key`; False once more than `limit` came within `window` seconds."""
    cache_key = f"offers:rl:{key}"
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window)
        count = 1
    return count <= limit


def public_request_allowed(*, ip: str, token_key: str) -> bool:
    """Per client address and per link, so neither guessing tokens nor hammering one link pays."""
    conf = settings.STAGEFLOW
    window = conf.get("OFFER_RATE_LIMIT_WINDOW", 600)
    by_ip = allow(f"ip:{ip}", limit=conf.get("OFFER_RATE_LIMIT_PER_IP", 60), window=window)
    by_token = allow(f"token:{token_key}", limit=conf.get("OFFER_RATE_LIMIT_PER_TOKEN", 30), window=window)
    return by_ip and by_token
