"""Real-browser fixtures: Playwright's sync API driving Debian's chromium against live_server.

The tests skip only when chromium or the playwright package is missing, and say which.
"""
import importlib
import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (it is in requirements/dev.txt)")
    path = chromium_path()
    if not path:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def sign_in(page):
    """sign_in(user) signs in through the real form and lands on the board."""

    def _sign_in(user, next_url: str = "/pipeline/"):
        page.goto(f"/accounts/login/?next={next_url}")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**{next_url}")
        return page

    return _sign_in


@pytest.fixture(autouse=True)
def default_pipeline_data(transactional_db):
    """The default pipeline, stages, lost reasons and contact roles that the data migrations create.

    Transactional tests flush the database afterwards. serialized_rollback should restore the
    migration's rows, but Django keeps them on the connection object, and once Playwright's
    event loop runs, the test thread sees a fresh connection object without them; so recreate
    them here when they are missing.
    """
    from django.apps import apps

    from pipeline.models import Pipeline

    if not Pipeline.objects.exists():
        migration = importlib.import_module("pipeline.migrations.0002_default_pipeline")
        migration.create_defaults(apps, None)
    from pipeline.models import ContactRole

    if not ContactRole.objects.exists():  # the default contact roles (migration 0012), for the same reason
        roles = importlib.import_module("pipeline.migrations.0012_people_from_leads").ROLES
        for position, (name, translations) in enumerate(roles):
            ContactRole.objects.create(name=name, name_translations=translations, position=position)
