"""axe-core (the npm package that `make setup` installs, injected by Playwright, never served by
the app) over every page, as a rep, a manager and an admin, in light and dark mode: no serious or
critical violation of WCAG 2.0/2.1 A and AA."""
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = Path(os.environ.get("STAGEFLOW_AXE_FILE", "/tmp/stageflow-axe-results.jsonl"))
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


def axe(page, label: str) -> list[str]:
    """The serious and critical violations on the page; every finding is written to RESULTS."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (make setup installs it)")
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    found = [
        {"id": v["id"], "impact": v["impact"], "targets": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]
    with RESULTS.open("a") as out:
        out.write(json.dumps({"page": label, "passes": len(result["passes"]), "violations": found}) + "\n")
    return [f"{v['id']} ({v['impact']}): {v['targets']}" for v in found if v["impact"] in BLOCKING]


@pytest.fixture
def world(db):
    from tests.factories import TeamFactory

    team = TeamFactory(name="North")
    users = {
        "rep": UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep", team=team),
        "manager": UserFactory(username="max", first_name="Max", last_name="Meyer", role="manager", team=team),
        "admin": UserFactory(username="ada", first_name="Ada", last_name="Admin", role="admin", is_staff=True, is_superuser=True),
    }
    team.manager = users["manager"]
    team.save()
    stages = list(default_pipeline().stages.order_by("position"))
    deals = [
        DealFactory(owner=users["rep"], stage=stage, next_step="Call back", amount=Decimal("1200"), currency="EUR")
        for stage in stages
    ]
    # Cards and pages with an overdue and an upcoming activity: their colours are checked too.
    from datetime import timedelta

    from django.utils import timezone

    from activities.services import activity_create

    now = timezone.now()
    activity_create(actor=users["rep"], kind="call", title="Call about the budget", due_at=now - timedelta(days=2), deal=deals[0])
    activity_create(actor=users["rep"], kind="meeting", title="Demo", due_at=now + timedelta(days=3), deal=deals[1])
    return {"users": users, "deal": deals[0]}


def pages_for(role: str, deal) -> list[str]:
    pages = [
        "/pipeline/",
        deal.get_absolute_url(),
        "/pipeline/deals/new/",
        deal.organization.get_absolute_url(),
        "/pipeline/organizations/new/",
        "/forecast/",
        "/qualification/leads/",
        "/imports/",
        "/offers/",
        "/accounts/password_change/",
        "/api/tokens/",
        "/activities/",
        "/pipeline/organizations/",
        "/pipeline/people/",
        "/pipeline/people/new/",
        deal.organization.main_contact.get_absolute_url(),
        "/search/?q=deal",
    ]
    if role == "admin":
        pages.append("/admin/")
    return pages


def sign_in_as(page, user, next_url="/pipeline/"):
    page.goto(f"/accounts/login/?next={next_url}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_url}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_every_page_passes_axe(browser, live_server, world, role, scheme):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = {}
    titles = {}
    try:
        for url in ("/accounts/login/", "/accounts/password_reset/"):
            page.goto(url)
            problems[url] = axe(page, f"{role}/{scheme} {url}")
        sign_in_as(page, world["users"][role])
        assert page.evaluate("document.documentElement.dataset.bsTheme") == scheme
        for url in pages_for(role, world["deal"]):
            response = page.goto(url)
            assert response.status == 200, url
            problems[url] = axe(page, f"{role}/{scheme} {url}")
            titles[url] = page.title()
        # The board's open "Move to…" menu and the shortcuts help.
        page.goto("/pipeline/")
        page.locator(f"#deal-{world['deal'].pk}").get_by_text("Move to…").click()
        page.keyboard.press("?")
        problems["/pipeline/ (menu open, help open)"] = axe(page, f"{role}/{scheme} /pipeline/ menu+help")
        # The top bar's "Find anything" with its dropdown open.
        page.goto("/pipeline/")
        page.keyboard.press("Control+k")
        page.keyboard.type("deal")
        page.locator("#sf-find-results [role=option]").first.wait_for()
        problems["/pipeline/ (find open)"] = axe(page, f"{role}/{scheme} /pipeline/ find")
    finally:
        context.close()
    assert {url: found for url, found in problems.items() if found} == {}
    # Every page's title says where you are: no two pages share one.
    assert len(set(titles.values())) == len(titles), titles
