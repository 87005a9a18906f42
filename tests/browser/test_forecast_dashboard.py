"""A manager opens the forecast dashboard in a real browser and sees the charts drawn."""

import os
import shutil

import pytest

from forecasting import synthetic
from tests.factories import UserFactory

CHROMIUM = shutil.which("chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),  # keeps the default pipeline
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def browser_page():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()


def test_a_manager_sees_the_forecast_charts(live_server, browser_page, manager, team, stages):
    manager.set_password("correct-horse-battery")
    manager.save()
    reps = [UserFactory(username=f"rep{i}", role="rep", team=team) for i in range(2)]
    synth = synthetic.generate(seed=4, months=15, deals_per_month=25)
    synthetic.write_to_database(synth, pipeline=stages["Offer"].pipeline, owners=reps)
    errors = []
    page = browser_page
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", manager.username)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("form [type=submit]")
    page.goto(f"{live_server.url}/forecast/?period=month")
    page.get_by_role("link", name="Forecast").wait_for()
    page.wait_for_function("() => Object.keys(Chart.instances).length >= 4")
    assert errors == []
    assert page.locator("#sf-range-charts canvas").count() == 1  # one currency, one range chart
    assert page.locator(".sf-period-card").count() == 3
    # The period filter is in the URL and the form keeps it.
    assert page.locator("select[name=period]").input_value() == "month"
