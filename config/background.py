"""Laptop mode's stand-in for a worker: jobs run one after another in a thread of this process.

Without a broker (CELERY_TASK_ALWAYS_EAGER) a task runs inside the request that enqueued it.
Work a request must not wait for (the forecast recompute after a move) is handed to `submit`
instead; it runs after the response, in one daemon thread, so jobs never overlap each other.
A job that fails is logged. Jobs still queued when the process ends are lost: what they would
have done is redone the next time (the forecast, by the next change or the dashboard's
freshness check). With a real worker nothing uses this module.
"""
import logging
import queue
import threading

from django.db import connections

logger = logging.getLogger(__name__)

_jobs: queue.SimpleQueue = queue.SimpleQueue()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def _run_forever():
    while True:
        job, args = _jobs.get()
        try:
            job(*args)
        except Exception:
            logger.exception("A background job failed: %s", getattr(job, "__qualname__", job))
        finally:
            connections.close_all()  # this thread's own connections; the next job opens fresh ones


def submit(job, *args) -> None:
    """Run `job(*args)` soon, in the background thread (started on first use)."""
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run_forever, name="stageflow-background", daemon=True)
            _thread.start()
    _jobs.put((job, args))
