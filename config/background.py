"""Laptop mode's stand-in for a worker: jobs run one after another in a thread of this process.

Without a broker (CELERY_TASK_ALWAYS_EAGER) a task runs inside the request that enqueued it.
Work a request must not wait for (the follow-ups of a move, the forecast recompute) is handed to
`submit` instead; it runs in one daemon thread, so jobs never overlap each other. A job submitted
while a request is being answered starts once that response is sent (`hold_during_requests`):
otherwise the thread's work (the first dispatch imports and sets up Celery, about 50 ms, more on
a busy machine) competes with the rest of the request for the interpreter and slows the answer
the person waits for (tests/browser/test_board_speed.py). A job that fails is logged. Jobs still queued when the process ends
are lost: what they would have done is redone the next time (the forecast, by the next change or
the dashboard's freshness check). With a real worker nothing uses this module.
"""
import logging
import queue
import threading

from django.core.signals import request_finished, request_started
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
    """Run `job(*args)` soon, in the background thread (started on first use); when submitted
    while this thread answers a request, once the response is sent."""
    held = getattr(_held, "jobs", None)
    if held is not None:
        held.append((job, args))
        return
    _queue(job, args)


def _queue(job, args) -> None:
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run_forever, name="stageflow-background", daemon=True)
            _thread.start()
    _jobs.put((job, args))


# Per request-handling thread: the jobs its current request submitted, or None between requests.
_held = threading.local()


def _hold(**kwargs) -> None:
    _held.jobs = []


def _release(**kwargs) -> None:
    jobs, _held.jobs = getattr(_held, "jobs", None) or [], None
    for job, args in jobs:
        _queue(job, args)


def hold_during_requests() -> None:
    """From now on a job submitted while a request is answered waits for its response to be sent
    (request_finished). Connected once at start-up (outbox.apps), before the first request."""
    request_started.connect(_hold, dispatch_uid="stageflow-background-hold")
    request_finished.connect(_release, dispatch_uid="stageflow-background-release")
