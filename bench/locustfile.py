"""Locust scenario for `python -m bench.load` (which writes the plan this reads from LOAD_PLAN).

Every simulated user is a different rep and moves only that rep's deals, keeping each deal's
version as the server returns it, so that no two users ever conflict: a 409 is a real error.
"""
import itertools
import json
import os
import random
import re
import time

from locust import HttpUser, between, events, task
from locust.stats import calculate_response_time_percentile

with open(os.environ["LOAD_PLAN"]) as handle:
    PLAN = json.load(handle)
REPS = iter(sorted(PLAN["reps"]))
MANAGERS = iter(PLAN.get("managers", []) * 100)
STAGES = PLAN["stages"]
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_counter = itertools.count()
_signed_in = itertools.count(1)
# The statistics when the last simulated rep has signed in: the steady state is what follows.
_at_all_signed_in: dict = {}


def _snapshot(environment) -> None:
    _at_all_signed_in["time"] = time.time()
    _at_all_signed_in["entries"] = {
        (e.name, e.method): (e.num_requests, e.num_failures, e.total_content_length, dict(e.response_times))
        for e in environment.stats.entries.values()
    }


@events.test_stop.add_listener
def _write_steady_state(environment, **kwargs):
    """Per request kind, what happened after everyone had signed in (sign-ins hash passwords and
    crowd the start), written as JSON to LOAD_STEADY for bench.load's report."""
    path = os.environ.get("LOAD_STEADY")
    if not path or "entries" not in _at_all_signed_in:
        return
    seconds = time.time() - _at_all_signed_in["time"]
    rows, everything, total = [], {}, [0, 0, 0]
    for entry in sorted(environment.stats.entries.values(), key=lambda e: e.name):
        before = _at_all_signed_in["entries"].get((entry.name, entry.method), (0, 0, 0, {}))
        times = {t: n - before[3].get(t, 0) for t, n in entry.response_times.items() if n - before[3].get(t, 0)}
        count, failures = entry.num_requests - before[0], entry.num_failures - before[1]
        if not count:
            continue
        for t, n in times.items():
            everything[t] = everything.get(t, 0) + n
        total[0] += count
        total[1] += failures
        total[2] += entry.total_content_length - before[2]
        rows.append(_row(entry.name, times, count, failures, seconds, entry.total_content_length - before[2]))
    if total[0]:
        rows.append(_row("Aggregated", everything, total[0], total[1], seconds, total[2]))
    with open(path, "w") as handle:
        json.dump({"seconds": seconds, "rows": rows}, handle)


def _row(name, times, count, failures, seconds, content) -> dict:
    return {
        "name": name, "count": count, "failures": failures, "rps": count / seconds if seconds else 0.0,
        "p50": calculate_response_time_percentile(times, count, 0.5),
        "p99": calculate_response_time_percentile(times, count, 0.99),
        "max": max(times) if times else 0, "bytes": content / count,
    }


def _sign_in(user) -> None:
    page = user.client.get("/accounts/login/", name="sign-in form")
    token = CSRF_INPUT.search(page.text).group(1)
    with user.client.post(
        "/accounts/login/",
        {"username": user.username, "password": PLAN["password"], "csrfmiddlewaretoken": token, "next": "/pipeline/"},
        name="sign-in",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        if response.status_code != 302:
            response.failure(f"sign-in answered {response.status_code}")
    if next(_signed_in) == user.environment.runner.target_user_count:
        _snapshot(user.environment)


class Manager(HttpUser):
    """A sales manager who keeps the forecast dashboard open and reloads it."""

    abstract = int(os.environ.get("LOAD_MANAGERS", "0")) == 0  # no managers asked for
    fixed_count = int(os.environ.get("LOAD_MANAGERS", "0"))
    wait_time = between(float(os.environ.get("LOAD_WAIT_MIN", "0.5")), float(os.environ.get("LOAD_WAIT_MAX", "2")))

    def on_start(self):
        self.username = next(MANAGERS)
        _sign_in(self)

    @task
    def dashboard(self):
        self.client.get("/forecast/", name="forecast dashboard")


class Rep(HttpUser):
    wait_time = between(float(os.environ.get("LOAD_WAIT_MIN", "0.5")), float(os.environ.get("LOAD_WAIT_MAX", "2")))

    def on_start(self):
        self.username = next(REPS)
        self.deals = [list(d) for d in PLAN["reps"][self.username]]  # [id, stage id, version]
        self.rng = random.Random(next(_counter))
        _sign_in(self)

    def _headers(self, htmx: bool = True) -> dict:
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", ""), "Referer": self.host + "/pipeline/"}
        if htmx:
            headers["HX-Request"] = "true"
        return headers

    @task(3)
    def board(self):
        self.client.get("/pipeline/", name="board")

    @task(2)
    def column(self):
        stage = self.rng.choice(STAGES)
        self.client.get(f"/pipeline/?stage={stage}&offset=50", name="board column (htmx)", headers=self._headers())

    @task(3)
    def move(self):
        deal = self.rng.choice(self.deals)
        deal_id, stage, version = deal
        target = STAGES[1] if stage == STAGES[0] else STAGES[0]
        with self.client.post(
            f"/pipeline/deals/{deal_id}/move/",
            {"stage": target, "version": version},
            name="move (htmx)",
            headers=self._headers(),
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                deal[1], deal[2] = target, version + 1
            else:
                response.failure(f"move answered {response.status_code}: {response.text[:200]}")
