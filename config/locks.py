"""Locks and debouncing in the shared cache: the one home of "never twice at once" and "once per burst".

    with cache_lock("forecast:pipeline:3", timeout=300) as acquired:
        if not acquired:
            return  # someone else is on it

A lock is a cache key holding a random token, set only if absent (`cache.add`), with a timeout
so that a worker killed while holding it cannot block the job forever. It is released only by
its owner: on Redis, compare-and-delete runs as one Lua script; on other backends (the
in-process cache of the embedded mode) a get-then-delete is enough, as there is one process.

Work that may take minutes holds a short lease instead of a long timeout (`CacheLock.kept`): a
thread renews it while the work runs, up to the work's time limit, so a killed worker's lock is
gone after one lease (seconds), and a lock never outlives the time limit of the work it guards.

A `Debounce` marks a job as pending: the first request of a burst claims it and schedules the
job, the others see it pending and do nothing; the job clears the mark when it starts, so a
change after that start asks for another run.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from contextlib import contextmanager

from django.core.cache import cache as default_cache

logger = logging.getLogger(__name__)

LOCK_PREFIX = "lock:"

_EXTEND_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""

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

    def extend(self, seconds: int | None = None) -> bool:
        """Let the lock run `seconds` (its timeout) from now if we still hold it; False when lost."""
        if not self.acquired:
            return False
        seconds = seconds or self.timeout
        redis_client = self._redis_client()
        if redis_client is not None:
            full_key = self.cache.make_and_validate_key(self.key)
            stored = self.cache._cache._serializer.dumps(self.token)
            return bool(redis_client.eval(_EXTEND_SCRIPT, 1, full_key, stored, seconds))
        if self.cache.get(self.key) == self.token:
            return bool(self.cache.touch(self.key, seconds))
        return False

    @contextmanager
    def kept(self, *, at_most: float):
        """Renew the lease of an acquired lock while the block runs, for `at_most` seconds (the
        work's time limit); after that, or once the process dies, it expires within one lease."""
        stop = threading.Event()
        deadline = time.monotonic() + at_most
        every = self.timeout / 3

        def renew():
            while not stop.wait(every):
                left = math.ceil(deadline - time.monotonic())
                if left <= 0:
                    return
                try:
                    # The last lease ends with the time limit.
                    if not self.extend(min(self.timeout, left)):
                        return
                except Exception:  # the cache is unreachable: the lease runs out, as after a crash
                    logger.warning("Could not renew the lock %s.", self.name, exc_info=True)
                    return

        renewer = threading.Thread(target=renew, name=f"lock-renewal {self.name}", daemon=True)
        renewer.start()
        try:
            yield self
        finally:
            stop.set()
            renewer.join()

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


DEBOUNCE_PREFIX = "debounce:"


class Debounce:
    """A "run pending" mark: `claim()` is True for the first caller of a burst only."""

    def __init__(self, name: str, *, window: float, cache=None):
        if window <= 0:
            raise ValueError("A debounce mark needs a positive window, or a lost run would block the job forever.")
        self.name = name
        self.key = DEBOUNCE_PREFIX + name
        self.window = window
        self.cache = cache or default_cache

    def claim(self) -> bool:
        """Mark the job pending; False when it already was (its run will see this change too)."""
        return bool(self.cache.add(self.key, 1, timeout=self.window))

    def pending(self) -> bool:
        return self.cache.get(self.key) is not None

    def clear(self) -> None:
        """Called when the run starts (changes from now on need a new run), or when scheduling failed."""
        self.cache.delete(self.key)
