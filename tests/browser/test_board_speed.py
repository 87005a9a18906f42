"""How long a drop takes to show the updated column totals, measured in the page and printed.

Ten cards are dragged one after another from one column to the next. For each drop the page
records, in its own clock (performance.now()): the drop, the request htmx sends, the answer's first
and last byte (Resource Timing), the moment both column headers show their new count and total
(a MutationObserver), and the next frame painted after that. The test prints the median and the
spread with the phases and appends them to the timings file (STAGEFLOW_TIMINGS_FILE); it asserts
only what the drops did, never how long they took: timings on a shared machine swing 2–3×.
"""
import json
import statistics
import threading
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from config import background
from outbox.services import dispatch_now
from pipeline.models import Deal
from tests.browser.test_board_polish import TIMINGS
from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DROPS = 10
LAPTOP_SUBMIT = background.submit  # as imported; tests/conftest.py's background_jobs replaces it per test

# Installed once: the drop (the first drop or pointer/mouse release after a drag started), htmx's
# request and the moment both headers of the current watch show what they should.
RECORDER = """() => {
  const r = window.__sfDrop = {watch: null, drops: []};
  const released = () => { if (r.watch && r.watch.drop === null) r.watch.drop = performance.now(); };
  for (const type of ["drop", "mouseup", "pointerup"]) document.addEventListener(type, released, true);
  document.body.addEventListener("htmx:beforeRequest", () => {
    if (r.watch && r.watch.request === null) r.watch.request = performance.now();
  }, true);
  const done = () => r.watch.expect.every(([id, count, total]) => {
    const head = document.getElementById(id);
    return head && head.querySelector(".sf-count").textContent.trim() === count
      && head.querySelector(".sf-totals").textContent.replace(/\\s+/g, " ").includes(total);
  });
  new MutationObserver(() => {
    const w = r.watch;
    if (!w || w.drop === null || w.shown !== null || !done()) return;
    w.shown = performance.now();
    requestAnimationFrame(() => setTimeout(() => { w.painted = performance.now(); }, 0));
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""

WATCH = """(expected) => {
  window.__sfDrop.watch = {expect: expected, drop: null, request: null, shown: null, painted: null};
}"""

# The watch's figures in ms from the drop, with the move request's Resource Timing entry.
READ = """() => {
  const w = window.__sfDrop.watch;
  const entry = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/move/")).pop();
  const from = (t) => Math.round((t - w.drop) * 10) / 10;
  return {
    total: from(w.shown), painted: from(w.painted), request: from(w.request),
    server: Math.round((entry.responseStart - entry.requestStart) * 10) / 10,
    app: (entry.serverTiming.find((t) => t.name === "app") || {duration: null}).duration,
    answered: from(entry.responseEnd), swapped_after_answer: Math.round((w.shown - entry.responseEnd) * 10) / 10,
  };
}"""


@pytest.fixture
def follow_ups_after_the_response(monkeypatch, background_jobs):
    """As laptop mode runs them (config.background): a move's follow-ups (the outbox dispatch)
    start once its response is sent, here in the thread that answered it rather than in the
    background thread, which would need a database connection of its own. Returns an event that
    is set whenever they have run, so that the next drop never overlaps them (the test database
    is one connection for all threads). The forecast recompute stays held (tests/conftest.py)."""
    ran = threading.Event()

    def start(job, args):
        if job is dispatch_now:
            job(*args)
            ran.set()
        else:
            background_jobs.append((job, args))

    monkeypatch.setattr(background, "submit", LAPTOP_SUBMIT)
    monkeypatch.setattr(background, "_queue", start)
    return ran


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def euros(amount: int) -> str:
    return f"€{amount:,}"


def test_drop_to_updated_column_totals_is_measured_over_ten_drops(page, sign_in, rep, settings,
                                                                 follow_ups_after_the_response):
    settings.SERVER_TIMING = True  # the app's own time, apart from the network's (config/server_timing.py)
    stages = {s.name: s for s in default_pipeline().stages.all()}
    source, target = stages["Prospecting"], stages["Qualification"]
    deals = [
        DealFactory(owner=rep, stage=source, title=f"Drop {n}", amount=Decimal("1000"), currency="EUR")
        for n in range(DROPS + 2)
    ]
    # A board as a rep sees it: cards in the other columns too.
    for name in ("Qualification", "Meeting & demo", "Offer", "Negotiation"):
        for n in range(4):
            DealFactory(owner=rep, stage=stages[name], title=f"{name} {n}", amount=Decimal("500"), currency="EUR")
    sign_in(rep)
    page.evaluate(RECORDER)
    figures = []
    for n in range(DROPS):
        left, arrived = len(deals) - n - 1, 4 + n + 1
        page.evaluate(WATCH, [
            [f"col-head-{source.pk}", str(left), euros(1000 * left)],
            [f"col-head-{target.pk}", str(arrived), euros(2000 + 1000 * (n + 1))],
        ])
        card = page.locator(f"#cards-{source.pk} > .sf-card").first
        follow_ups_after_the_response.clear()
        with page.expect_response(lambda r: r.url.endswith("/move/") and r.request.method == "POST") as answer:
            card.drag_to(page.locator(f"#cards-{target.pk}"), steps=10)
        assert answer.value.status == 200
        page.wait_for_function("() => window.__sfDrop.watch.painted !== null")
        figures.append(page.evaluate(READ))
        assert follow_ups_after_the_response.wait(10)
        page.wait_for_timeout(250)  # a person's pace between drops, not back to back

    expect(page.locator(f"#cards-{target.pk} > .sf-card")).to_have_count(4 + DROPS)
    assert Deal.objects.filter(stage=target).count() == 4 + DROPS
    assert all(f["request"] is not None for f in figures)  # every drop sent its move through htmx

    def median(key):
        return round(statistics.median(f[key] for f in figures), 1)

    totals = sorted(f["total"] for f in figures)
    summary = {
        "what": f"drop to updated column totals, median of {DROPS} drops",
        "ms": median("total"),
        "first": figures[0]["total"],
        "min": totals[0],
        "max": totals[-1],
        "painted": median("painted"),
        "request_sent": median("request"),
        "server": median("server"),
        "app": median("app"),
        "answered": median("answered"),
        "swapped_after_answer": median("swapped_after_answer"),
        "drops": figures,
    }
    print(
        f"\n[timing] drop to updated column totals: median {summary['ms']} ms over {DROPS} drops "
        f"(first {summary['first']}, min {totals[0]}, max {totals[-1]}; next frame {summary['painted']}); phases (medians): "
        f"request sent {summary['request_sent']}, server {summary['server']} (app {summary['app']}), answer in {summary['answered']}, "
        f"totals swapped {summary['swapped_after_answer']} ms after the answer"
    )
    with TIMINGS.open("a") as out:
        out.write(json.dumps(summary) + "\n")
