"""The Redis cache, tolerant of a Redis outage where a cache may be: a page that reads or fills
the cache keeps working (a miss, a skipped write) while Redis is down, instead of answering 500.

Operations whose outcome means something - `add` (locks, debounce markers), `incr`/`decr`
(counters) and `clear` - still raise, so their callers can tell "taken" from "unknown".
"""
import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


def _redis_errors():
    import redis.exceptions

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def unreachable_errors() -> tuple[type[Exception], ...]:
    """What the cache raises when Redis cannot be reached, for callers that have a fallback."""
    return _redis_errors()


class ResilientRedisCache(RedisCache):
    def _degrade(self, operation: str, fallback):
        logger.warning("Cache unreachable during %s; carrying on without it.", operation, exc_info=True)
        return fallback

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except _redis_errors():
            return self._degrade("get", default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except _redis_errors():
            return self._degrade("get_many", {})

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except _redis_errors():
            return self._degrade("has_key", False)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set(key, value, timeout, version)
        except _redis_errors():
            return self._degrade("set", None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except _redis_errors():
            return self._degrade("set_many", list(data))

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except _redis_errors():
            return self._degrade("touch", False)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except _redis_errors():
            return self._degrade("delete", False)

    def delete_many(self, keys, version=None):
        try:
            return super().delete_many(keys, version)
        except _redis_errors():
            return self._degrade("delete_many", None)
