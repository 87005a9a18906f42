"""Timing helpers shared by the benchmark measurements."""
import statistics
import time


def timed(fn, repeat: int) -> list[float]:
    """Milliseconds of `repeat` calls of fn."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def timed_alternating(fn, floor_fn, repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `repeat` calls of fn and of floor_fn, one after the other: both meet the
    same machine (another process's disk writes make a commit's fsync several times slower for
    a while), so that the ratio of their medians holds on a busy machine."""
    times, floor_times = [], []
    for _ in range(repeat):
        times += timed(fn, 1)
        floor_times += timed(floor_fn, 1)
    return times, floor_times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "runs": len(ordered)}
