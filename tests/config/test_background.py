"""Laptop mode's background thread: a job submitted while a request is answered waits for its response."""
import threading
from contextlib import contextmanager

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from config import background

LAPTOP_SUBMIT = background.submit  # as imported; tests/conftest.py's background_jobs replaces it per test


@pytest.fixture(autouse=True)
def laptop_submit(monkeypatch, background_jobs):
    monkeypatch.setattr(background, "submit", LAPTOP_SUBMIT)


@contextmanager
def a_request(steps: list):
    """The signals a server sends around a request; `steps` records when its response is sent.
    Database connections stay open, as Django's test client leaves them."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        request_started.send(sender=None)
        yield
        steps.append("response sent")
        request_finished.send(sender=None)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_a_job_submitted_during_a_request_starts_once_the_response_is_sent(monkeypatch):
    steps = []
    monkeypatch.setattr(background, "_queue", lambda job, args: steps.append((job, args)))

    def follow_up(*args):
        pass

    with a_request(steps):
        background.submit(follow_up, [1, 2])
        background.submit(print)
        assert steps == []  # the answer is still being written
    assert steps == ["response sent", (follow_up, ([1, 2],)), (print, ())]
    background.submit(print, "between requests")  # a command, a worker thread: at once
    assert steps[-1] == (print, ("between requests",))


def test_a_request_holds_only_the_jobs_of_its_own_thread(monkeypatch):
    steps = []
    monkeypatch.setattr(background, "_queue", lambda job, args: steps.append(args))
    with a_request(steps):
        elsewhere = threading.Thread(target=lambda: background.submit(print, "not in a request"))
        elsewhere.start()
        elsewhere.join()
        background.submit(print, "held")
        assert steps == [("not in a request",)]
    assert steps == [("not in a request",), "response sent", ("held",)]


def test_the_background_thread_runs_what_a_request_released():
    done = threading.Event()
    with a_request([]):
        background.submit(done.set)
        assert not done.wait(0.2)
    assert done.wait(5)
