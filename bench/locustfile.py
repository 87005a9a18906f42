"""Locust scenario for `python -m bench.load` (which writes the plan this reads from LOAD_PLAN).

Every simulated user is a different rep and moves only that rep's deals, keeping each deal's
version as the server returns it, so that no two users ever conflict: a 409 is a real error.
"""
import itertools
import json
import os
import random
import re

from locust import HttpUser, between, task

with open(os.environ["LOAD_PLAN"]) as handle:
    PLAN = json.load(handle)
REPS = iter(sorted(PLAN["reps"]))
STAGES = PLAN["stages"]
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_counter = itertools.count()


class Rep(HttpUser):
    wait_time = between(float(os.environ.get("LOAD_WAIT_MIN", "0.5")), float(os.environ.get("LOAD_WAIT_MAX", "2")))

    def on_start(self):
        self.username = next(REPS)
        self.deals = [list(d) for d in PLAN["reps"][self.username]]  # [id, stage id, version]
        self.rng = random.Random(next(_counter))
        page = self.client.get("/accounts/login/", name="sign-in form")
        token = CSRF_INPUT.search(page.text).group(1)
        with self.client.post(
            "/accounts/login/",
            {"username": self.username, "password": PLAN["password"], "csrfmiddlewaretoken": token, "next": "/pipeline/"},
            name="sign-in",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"sign-in answered {response.status_code}")

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
