"""Locks in the shared cache, so that the same job never runs twice at once across workers.

    with cache_lock("forecast:pipeline:3", timeout=300) as acquired:
        if not acquired:
            return  # someone else is on it

A lock is a cache key holding a random token, set only if absent (`cache.add`), with a timeout
so that a worker killed while holding it cannot block the job forever. It is released only by
its owner: on Redis, compare-and-delete runs as one Lua script; on other backends (the
in-process cache of the embedded mode) a get-then-delete is enough, as there is one process.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager

from django.core.cache import cache as default_cache

LOCK_PREFIX = "lock:"

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class CacheLock:
    def __init__(self, name: str, *, timeout: int, cache=None):
        if timeout <= 0:
            raise ValueError("A lock needs a positive timeout, or a dead owner would hold it forever.")
        self.name = name
        self.key = LOCK_PREFIX + name
        self.timeout = timeout
        self.cache = cache or default_cache
        self.token = uuid.uuid4().hex
        self.acquired = False

    def acquire(self) -> bool:
        self.acquired = bool(self.cache.add(self.key, self.token, timeout=self.timeout))
        return self.acquired

    def locked(self) -> bool:
        return self.cache.get(self.key) is not None

    def release(self) -> bool:
        """Delete the key if it still holds our token; False when it expired or changed hands."""
        if not self.acquired:
            return False
        self.acquired = False
        redis_client = self._redis_client()
        if redis_client is not None:
            full_key = self.cache.make_and_validate_key(self.key)
            stored = self.cache._cache._serializer.dumps(self.token)
            return bool(redis_client.eval(_RELEASE_SCRIPT, 1, full_key, stored))
        if self.cache.get(self.key) == self.token:
            return bool(self.cache.delete(self.key))
        return False

    def _redis_client(self):
        # Django's RedisCache keeps its redis-py client behind a private attribute; only that
        # backend gets the atomic release.
        from django.core.cache.backends.redis import RedisCache

        if isinstance(self.cache, RedisCache):
            full_key = self.cache.make_and_validate_key(self.key)
            return self.cache._cache.get_client(full_key, write=True)
        return None


@contextmanager
def cache_lock(name: str, *, timeout: int, cache=None):
    """Yield True when this caller holds the lock, False when someone else does."""
    lock = CacheLock(name, timeout=timeout, cache=cache)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
