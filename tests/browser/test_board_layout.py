"""The board on a laptop's screen: the toolbar in one row, all six columns in view, and toasts that
cover no card (least of all the one just dropped), in English and German."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD
from tests.factories import DealFactory, TeamFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# The parts of the page in view that `#sf-toasts .toast` overlaps, each clipped to its column's box
# (a card scrolled out of its column is not in view).
COVERED = """(selector) => {
  const toast = document.querySelector("#sf-toasts .toast");
  if (!toast) return null;
  const t = toast.getBoundingClientRect();
  return Array.from(document.querySelectorAll(selector)).filter((el) => {
    let r = el.getBoundingClientRect();
    const clip = el.closest(".sf-column");
    if (clip && clip !== el) {
      const c = clip.getBoundingClientRect();
      r = {left: Math.max(r.left, c.left), right: Math.min(r.right, c.right), top: Math.max(r.top, c.top), bottom: Math.min(r.bottom, c.bottom)};
    }
    const inView = r.right > r.left && r.bottom > r.top && r.bottom > 0 && r.top < innerHeight;
    return inView && r.left < t.right && r.right > t.left && r.top < t.bottom && r.bottom > t.top;
  }).map((el) => el.id || el.className);
}"""

# Every visible box of the toolbar's two groups: one row means they all end at the same height.
TOOLBAR = """() => {
  const boxes = (selector) => Array.from(document.querySelectorAll(selector))
    .map((el) => el.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
  const filters = boxes(".sf-filters .sf-filter");
  const end = boxes(".sf-toolbar-end > *");
  return {
    filterBottoms: [...new Set(filters.map((r) => Math.round(r.bottom)))],
    endMiddles: [...new Set(end.map((r) => Math.round((r.top + r.bottom) / 2)))],
    filtersTop: Math.min(...filters.map((r) => r.top)), filtersBottom: Math.max(...filters.map((r) => r.bottom)),
    endRight: Math.max(...end.map((r) => r.right)),
  };
}"""


def sign_in_as(browser, live_server, user, *, width, language="en"):
    context = browser.new_context(
        viewport={"width": width, "height": 800}, base_url=live_server.url, locale=language,
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/accounts/login/?next=/pipeline/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/pipeline/")
    return context, page


def full_board(owner):
    """Seven cards in every column, so that the columns reach the bottom of the screen."""
    stages = {s.name: s for s in default_pipeline().stages.all()}
    close = timezone.localdate() + timedelta(days=30)
    for name, stage in stages.items():
        for n in range(7):
            DealFactory(owner=owner, stage=stage, title=f"{name} deal {n}", amount=Decimal("12500"), currency="EUR",
                        expected_close=close, status="won" if stage.is_won else "open")
    return stages


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("width", [1366, 1440])
def test_the_toolbar_is_one_row_and_all_six_columns_fit(browser, live_server, width, language):
    # The widest toolbar: an admin (one more link in the top bar) choosing among long names.
    admin = UserFactory(username="ada", first_name="Adelheid", last_name="Müller-Lüdenscheidt", role="admin",
                        is_staff=True, is_superuser=True, language=language, team=TeamFactory(name="North"))
    UserFactory(username="maximilian", first_name="Maximilian", last_name="Oberhausen-Wiedenbrück", role="rep",
                team=admin.team)
    full_board(admin)
    context, page = sign_in_as(browser, live_server, admin, width=width, language=language)
    try:
        expect(page.locator("html")).to_have_attribute("lang", language)
        toolbar = page.evaluate(TOOLBAR)
        assert len(toolbar["filterBottoms"]) == 1, f"the filters wrap: {toolbar}"
        assert all(toolbar["filtersTop"] <= y <= toolbar["filtersBottom"] for y in toolbar["endMiddles"]), (
            f"export, the lost zone and “New deal” wrapped under the filters: {toolbar}"
        )
        assert toolbar["endRight"] <= width
        board = page.locator(".sf-board")
        expect(page.locator(".sf-column")).to_have_count(6)
        assert board.evaluate("b => b.scrollWidth <= b.clientWidth"), "the sixth column is cut off"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()


@pytest.mark.parametrize("width", [1366, 1440])
def test_a_toast_covers_no_card_and_never_the_card_just_dropped(browser, live_server, width):
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    stages = full_board(rep)
    nameless = DealFactory(owner=rep, stage=stages["Meeting & demo"], title="No amount yet", amount=None)
    context, page = sign_in_as(browser, live_server, rep, width=width)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        # Into the last column, bottom right, where the toast used to sit.
        retention, negotiation = stages["Retention"], stages["Negotiation"]
        card = page.locator(f"#cards-{negotiation.pk} > .sf-card").last
        dropped = card.get_attribute("id")
        with page.expect_response(lambda r: r.url.endswith("/move/")) as answer:
            card.drag_to(page.locator(f"#cards-{retention.pk}"), steps=10)
        assert answer.value.status == 200
        toast = page.locator("#sf-toasts .toast")
        expect(toast).to_have_count(1)
        expect(toast).to_contain_text("moved to Retention")
        expect(page.locator(f"#cards-{retention.pk} > #{dropped}")).to_be_visible()
        assert page.evaluate(COVERED, f"#{dropped}") == []
        assert page.evaluate(COVERED, ".sf-card, .sf-col-head, .sf-lost-zone, .sf-toolbar-end > *") == []

        # A refusal's longer message takes the place of the toast before: one at a time, still
        # over no card, and its Undo-less alert stays reachable.
        with page.expect_response(lambda r: r.url.endswith("/move/")) as answer:
            page.locator(f"#deal-{nameless.pk}").drag_to(page.locator(f"#cards-{stages['Offer'].pk}"), steps=10)
        assert answer.value.status == 400
        expect(toast).to_have_count(1)
        expect(page.locator("#sf-toasts [role=alert]")).to_contain_text("this deal needs an amount")
        assert page.evaluate(COVERED, ".sf-card, .sf-col-head, .sf-lost-zone, .sf-toolbar-end > *") == []
    finally:
        context.close()
    assert errors == []


def test_on_a_phone_a_toast_stays_at_the_bottom_and_off_the_moved_card(browser, live_server):
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    stages = full_board(rep)
    context, page = sign_in_as(browser, live_server, rep, width=390)
    try:
        card = page.locator(f"#cards-{stages['Prospecting'].pk} > .sf-card").first
        moved = card.get_attribute("id")
        card.get_by_role("button", name="Move to…").click()
        with page.expect_response(lambda r: r.url.endswith("/move/")):
            card.get_by_role("menuitem", name="Qualification").click()
        toast = page.locator("#sf-toasts .toast")
        expect(toast).to_be_visible()
        box = toast.bounding_box()
        assert box["y"] + box["height"] > 800 * 0.75  # at the bottom of the screen
        page.locator(f"#{moved}").scroll_into_view_if_needed()
        assert page.evaluate(COVERED, f"#{moved}") == []
    finally:
        context.close()
