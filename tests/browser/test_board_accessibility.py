"""axe-core (from package.json, installed by `make setup`) finds no WCAG 2 A/AA problems on the
board, the deal page and the lead pages."""
from pathlib import Path

import pytest

from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def violations(page) -> list[str]:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (make setup installs it)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})")
    return [f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]]


def test_board_deal_and_organization_pages_pass_axe(page, sign_in):
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    stages = list(default_pipeline().stages.order_by("position"))
    deals = [DealFactory(owner=rep, stage=stage, next_step="Call back") for stage in stages[:-1]]
    sign_in(rep)
    assert violations(page) == []
    page.locator(f"#deal-{deals[0].pk}").get_by_text("Move to…").click()
    assert violations(page) == []
    for url in (deals[0].get_absolute_url(), "/qualification/leads/", deals[0].organization.get_absolute_url(), "/pipeline/deals/new/"):
        page.goto(url)
        assert violations(page) == [], url
