"""The cache lock: one holder at a time, released only by its owner, never held forever."""
import threading

import pytest
from django.core.cache import cache

from config.locks import CacheLock, cache_lock


def test_second_caller_does_not_get_a_held_lock():
    first, second = CacheLock("job:1", timeout=30), CacheLock("job:1", timeout=30)
    assert first.acquire()
    assert not second.acquire()
    assert first.release()
    assert second.acquire()
    second.release()


def test_locks_with_different_names_do_not_block_each_other():
    with cache_lock("job:a", timeout=30) as a, cache_lock("job:b", timeout=30) as b:
        assert a and b


def test_a_lock_is_not_released_by_someone_who_does_not_own_it():
    owner = CacheLock("job:2", timeout=30)
    assert owner.acquire()
    stranger = CacheLock("job:2", timeout=30)
    assert not stranger.acquire()
    assert not stranger.release()
    assert owner.locked()


def test_an_expired_owner_cannot_release_the_next_owners_lock():
    slow = CacheLock("job:3", timeout=30)
    assert slow.acquire()
    cache.delete("lock:job:3")  # the lock timed out while its owner was still busy
    fresh = CacheLock("job:3", timeout=30)
    assert fresh.acquire()
    assert not slow.release()
    assert fresh.locked()
    assert fresh.release()
    assert not fresh.locked()


def test_a_lock_expires_so_a_killed_owner_cannot_block_forever():
    lock = CacheLock("job:4", timeout=1)
    assert lock.acquire()
    import time

    time.sleep(1.2)
    assert CacheLock("job:4", timeout=30).acquire()


def test_context_manager_releases_the_lock_when_the_body_fails():
    with pytest.raises(RuntimeError):
        with cache_lock("job:5", timeout=30) as acquired:
            assert acquired
            raise RuntimeError("boom")
    assert not CacheLock("job:5", timeout=30).locked()


def test_a_lock_needs_a_timeout():
    with pytest.raises(ValueError):
        CacheLock("job:6", timeout=0)


def test_of_many_threads_exactly_one_gets_the_lock():
    barrier = threading.Barrier(8)
    winners = []

    def contend():
        lock = CacheLock("job:7", timeout=30)
        barrier.wait()
        if lock.acquire():
            winners.append(lock)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
