"""Locks and debouncing: one holder at a time, released only by its owner, never held forever; one run per burst."""
import threading
import time

import pytest
from django.core.cache import cache

from config.locks import CacheLock, Debounce, cache_lock


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


def test_a_kept_lock_outlives_its_lease_while_the_work_runs():
    lock = CacheLock("job:8", timeout=1)
    assert lock.acquire()
    with lock.kept(at_most=30):
        time.sleep(2.2)  # two leases
        assert CacheLock("job:8", timeout=1).acquire() is False
    lock.release()
    assert not lock.locked()


def test_a_kept_lock_is_not_renewed_past_the_work_s_time_limit():
    lock = CacheLock("job:9", timeout=1)
    assert lock.acquire()
    with lock.kept(at_most=1.5):
        time.sleep(3)
        assert not lock.locked(), "the lease ended with the time limit"


def test_a_dead_owner_s_kept_lock_expires_after_one_lease():
    lock = CacheLock("job:10", timeout=1)
    assert lock.acquire()  # acquired, never kept nor released: its owner died
    time.sleep(1.2)
    assert CacheLock("job:10", timeout=1).acquire()


def test_extending_a_lock_someone_else_holds_does_nothing():
    owner = CacheLock("job:11", timeout=30)
    assert owner.acquire()
    stranger = CacheLock("job:11", timeout=30)
    stranger.acquired = True  # it believes so; the token says otherwise
    assert stranger.extend() is False
    assert owner.extend() is True


def test_a_debounce_is_claimed_once_per_burst_and_again_after_the_run_started():
    pending = Debounce("job:12", window=30)
    assert [pending.claim() for _ in range(5)] == [True, False, False, False, False]
    assert pending.pending()
    pending.clear()  # the run starts
    assert not pending.pending()
    assert pending.claim()


def test_a_forgotten_debounce_mark_expires():
    pending = Debounce("job:13", window=1)
    assert pending.claim()
    time.sleep(1.2)
    assert pending.claim()


def test_a_debounce_needs_a_window():
    with pytest.raises(ValueError):
        Debounce("job:14", window=0)
