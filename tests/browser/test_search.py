"""Find anything from the top bar: Ctrl+K (or "/" where a page has no search of its own) focuses
the box, typing shows the dropdown, ↑/↓ choose a result, Enter opens it, Escape closes the
dropdown, Enter with nothing chosen opens the results page."""
import re

import pytest
from playwright.sync_api import expect

from pipeline.people import person_create
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def world(db):
    north = TeamFactory(name="North")
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep", team=north)
    zandor = OrganizationFactory(name="Zandor GmbH", owner=rep, domains="zandor.de", contact_name="", contact_email="")
    anna = person_create(actor=None, name="Anna Zandorf", owner=rep, organization=zandor,
                         emails=["anna@zandor.de"], phones=["+49 30 1234567"])
    deal = DealFactory(title="Zandor rollout", owner=rep, organization=zandor)
    return {"rep": rep, "zandor": zandor, "anna": anna, "deal": deal}


def options(page):
    return page.locator("#sf-find-results [role=option]")


def test_ctrl_k_opens_the_box_typing_shows_results_and_arrows_and_enter_open_one(page, sign_in, world):
    sign_in(world["rep"])
    box = page.locator("#sf-find-input")
    page.keyboard.press("Control+k")
    expect(box).to_be_focused()
    with page.expect_response(lambda r: "/search/?q=zando" in r.url):
        page.keyboard.type("zando")
    expect(page.locator("#sf-find-results")).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    # Deals, organisations, people, then "All results".
    expect(options(page)).to_have_text([
        re.compile("Zandor rollout"), re.compile("Zandor GmbH"), re.compile("Anna Zandorf"), re.compile("All results"),
    ])
    page.keyboard.press("ArrowDown")
    expect(options(page).nth(0)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    expect(options(page).nth(1)).to_have_attribute("aria-selected", "true")
    expect(options(page).nth(0)).to_have_attribute("aria-selected", "false")
    expect(box).to_have_attribute("aria-activedescendant", f"sf-find-organizations-{world['zandor'].pk}")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # from the first back round to the last
    expect(options(page).nth(3)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")  # and on to the first again
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/pipeline/organizations/{world['zandor'].pk}/")


def test_a_phone_number_finds_the_person_and_escape_closes_the_dropdown(page, sign_in, world):
    sign_in(world["rep"])
    page.keyboard.press("Control+k")
    with page.expect_response(lambda r: "/search/?q=030" in r.url):
        page.keyboard.type("030 123 4567")
    expect(options(page).first).to_contain_text("Anna Zandorf")
    expect(options(page).first).to_contain_text("+49 30 1234567")
    page.keyboard.press("Escape")
    expect(page.locator("#sf-find-results")).to_be_hidden()
    expect(page.locator("#sf-find-input")).to_have_attribute("aria-expanded", "false")
    # Enter with no result chosen: the results page.
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=030"))
    expect(page.get_by_role("heading", name="People", exact=True)).to_be_visible()
    expect(page.locator("main").get_by_role("link", name=re.compile("Anna Zandorf"))).to_be_visible()


def test_slash_finds_anything_where_the_page_has_no_search_and_the_help_says_so(page, sign_in, world):
    sign_in(world["rep"], next_url=f"/pipeline/deals/{world['deal'].pk}/")
    page.keyboard.press("/")
    expect(page.locator("#sf-find-input")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("#sf-find-input").blur()
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_contain_text("Find deals, organisations and people")
    page.keyboard.press("Escape")
    # Ctrl+K is taken even while typing in a field; the field keeps what was typed.
    page.goto("/search/")
    page.fill("#sf-search-q", "zandor")
    page.keyboard.press("Control+k")
    expect(page.locator("#sf-find-input")).to_be_focused()
    expect(page.locator("#sf-search-q")).to_have_value("zandor")


def test_the_board_keeps_slash_for_its_own_filter(page, sign_in, world):
    sign_in(world["rep"])
    page.keyboard.press("/")
    expect(page.locator("#id_q")).to_be_focused()


def test_on_a_narrow_screen_the_shortcut_opens_the_collapsed_menu_first(browser, live_server, world):
    context = browser.new_context(viewport={"width": 800, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    try:
        page.goto("/accounts/login/?next=/pipeline/")
        page.fill("input[name=username]", "rita")
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        page.wait_for_url("**/pipeline/")
        box = page.locator("#sf-find-input")
        expect(box).to_be_hidden()  # in the collapsed menu
        page.keyboard.press("Control+k")
        expect(box).to_be_focused()
        with page.expect_response(lambda r: "/search/?q=zandor" in r.url):
            page.keyboard.type("zandor")
        expect(options(page).first).to_be_visible()
        # "/" on a page without a search of its own does the same.
        page.goto(f"/pipeline/deals/{world['deal'].pk}/")
        expect(box).to_be_hidden()
        page.keyboard.press("/")
        expect(box).to_be_focused()
    finally:
        context.close()
