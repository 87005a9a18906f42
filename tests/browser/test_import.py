"""A rep imports a large lead file in a real browser and watches the progress bar fill up.

The test plays the Celery worker: the commit only queues the import (as with a real broker),
the status page polls, and the test then runs the task, slowed down per batch, so that the
browser sees the bar move without reloading the page and stop polling when the import is done.
"""
import os
import shutil
import time
from unittest import mock

import pytest
from playwright.sync_api import sync_playwright

from imports import services as import_services
from imports.models import ImportJob, ImportStatus
from imports.tasks import import_run
from pipeline.models import Organization
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ROWS = 500


@pytest.fixture
def browser_page(request, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls here are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        # A session-wide browser from tests/browser/conftest.py, when there is one: two Playwright
        # instances cannot run in one thread.
        shared = request.getfixturevalue("browser")
    except pytest.FixtureLookupError:
        shared = None
    if shared is not None:
        page = shared.new_page()
        page.set_default_timeout(15_000)
        yield page
        page.close()
        return
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(page, live_server, username, password="correct-horse-battery"):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()


def test_large_import_shows_a_progress_bar_that_updates_without_reload(
    browser_page, live_server, settings, tmp_path, fast_hashing, background_jobs
):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "IMPORT_BACKGROUND_ROWS": 50}
    page = browser_page
    UserFactory(username="rita", role="rep")
    sign_in(page, live_server, "rita")

    csv_file = tmp_path / "fair-organizations.csv"
    csv_file.write_text("Firma;Land;Branche\n" + "".join(f"Messe Kontakt {i} GmbH;DE;Software\n" for i in range(ROWS)),
                        encoding="utf-8")

    page.goto(f"{live_server.url}/imports/?kind=organizations")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("main button[type=submit]")
    page.wait_for_url("**/mapping/")
    assert page.locator("select[name=name]").input_value() == "0"  # "Firma" was recognised as the company
    page.click("main button[type=submit]")
    page.wait_for_url("**/values/")  # the values and the file's formats, confirmed
    page.click("main button[type=submit]")
    page.wait_for_url("**/preview/")
    assert "imported in the background" in page.content()

    # No worker here (laptop mode): the import goes to the server's background thread, which
    # the test runs below, while the page polls.
    page.click("#sf-import-commit")
    page.wait_for_selector("#sf-import-progress[data-status=queued]")
    job = ImportJob.objects.get()
    assert background_jobs == [(import_run, (job.pk,))] and job.status == ImportStatus.QUEUED

    # Remember every value the bar shows, and mark the page: a reload would lose both.
    page.evaluate("""() => {
        window.sfSeen = [];
        window.sfNoReload = true;
        document.body.addEventListener('htmx:afterSwap', () => {
            const bar = document.querySelector('#sf-import-progress [role=progressbar]');
            if (bar) window.sfSeen.push(Number(bar.getAttribute('aria-valuenow')));
        });
    }""")

    real_progress = import_services._progress

    def slow_progress(job, done):
        real_progress(job, done)
        time.sleep(0.6)  # a batch that takes a while, so the poll (every second) catches it mid-way

    with mock.patch.object(import_services, "_progress", side_effect=slow_progress):
        assert background_jobs.run() == 1  # the background thread runs the queued task

    page.wait_for_selector("#sf-import-progress[data-status=done]")
    assert page.evaluate("window.sfNoReload") is True
    seen = page.evaluate("window.sfSeen")
    assert any(0 < value < 100 for value in seen), seen
    assert seen[-1] == 100
    assert f"{ROWS} leads were imported." in page.inner_text("#sf-import-progress")
    assert Organization.objects.filter(name__startswith="Messe Kontakt").count() == ROWS

    # Once done, the page stops polling.
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.wait_for_timeout(2500)
    assert not [url for url in requests if f"/imports/{job.pk}/" in url]
    page.screenshot(path=str(tmp_path / "import-done.png"))
    if os.environ.get("STAGEFLOW_SHOTS"):
        shutil.copy(tmp_path / "import-done.png", os.environ["STAGEFLOW_SHOTS"])
