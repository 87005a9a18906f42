"""With Redis down, the cache degrades to misses for pages, but not for locks and markers."""
import pytest
import redis.exceptions

from config.cache import ResilientRedisCache
from tests.services import closed_redis_url


@pytest.fixture
def unreachable_cache():
    return ResilientRedisCache(closed_redis_url(), {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})


def test_reads_and_writes_of_an_unreachable_cache_are_misses(unreachable_cache):
    assert unreachable_cache.get("forecast", "stale") == "stale"
    assert unreachable_cache.get_many(["a", "b"]) == {}
    assert unreachable_cache.has_key("a") is False
    assert unreachable_cache.set("a", 1) is None
    assert unreachable_cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert unreachable_cache.delete("a") is False
    assert unreachable_cache.touch("a") is False


def test_add_still_reports_an_outage_so_a_lock_is_never_taken_by_mistake(unreachable_cache):
    with pytest.raises(redis.exceptions.ConnectionError):
        unreachable_cache.add("lock:x", "token", timeout=10)
    with pytest.raises(redis.exceptions.ConnectionError):
        unreachable_cache.incr("counter")
