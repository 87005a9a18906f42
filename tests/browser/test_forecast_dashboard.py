"""A manager opens the forecast dashboard in a real browser, asks for the forecast to be computed,
and sees the charts drawn."""

import pytest

from forecasting import synthetic
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_computes_the_forecast_and_sees_its_charts(page, sign_in, manager, team, stages):
    reps = [UserFactory(username=f"rep{i}", role="rep", team=team) for i in range(2)]
    synth = synthetic.generate(seed=4, months=15, deals_per_month=25)
    synthetic.write_to_database(synth, pipeline=stages["Offer"].pipeline, owners=reps)
    sign_in(manager, next_url="/forecast/?period=month")
    page.get_by_role("link", name="Forecast").wait_for()
    assert page.locator("#sf-not-computed").is_visible()
    assert page.locator(".sf-period-card").count() == 0
    # Laptop mode: the recompute runs once the request has committed, then the page shows it.
    page.get_by_role("button", name="Recompute now").click()
    page.wait_for_function("() => Object.keys(Chart.instances).length >= 4")
    assert page.locator("#sf-range-charts canvas").count() == 1  # one currency, one range chart
    assert page.locator(".sf-period-card").count() == 3
    assert "no changes to the deals since" in page.locator("#sf-freshness").inner_text()
    # How each method has done on this history, the best one marked and its figure shown first.
    comparison = page.locator("table.sf-comparison")
    assert comparison.locator("tbody tr").count() == 6
    best = comparison.locator("tr.table-success").inner_text()
    assert "best here" in best
    assert "(best here)" in page.locator(".sf-period-card .sf-headline").first.inner_text()
    # The period filter is in the URL and the form keeps it, through the recompute too.
    assert page.locator("select[name=period]").input_value() == "month"
