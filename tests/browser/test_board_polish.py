"""The board for people in a hurry: undo, the keyboard alone, a phone with touch, and how fast it
answers. Timings are measured in the page (performance.now()) and printed, never asserted."""
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pipeline.models import StageChange, Transition
from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TIMINGS = Path(os.environ.get("STAGEFLOW_TIMINGS_FILE", "/tmp/stageflow-board-timings.jsonl"))

# From the request htmx sends to the moment `selector` is in the DOM, in the page's own clock.
WATCH = """(selector) => {
  const t = window.__sfTiming = {start: null, end: null};
  document.addEventListener("htmx:beforeRequest", () => { if (t.start === null) t.start = performance.now(); }, {once: true});
  const observer = new MutationObserver(() => {
    if (t.start !== null && t.end === null && document.querySelector(selector)) {
      t.end = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document.body, {childList: true, subtree: true});
}"""


def watch(page, selector: str):
    page.evaluate(WATCH, selector)


def report(page, what: str) -> float:
    timing = page.evaluate("window.__sfTiming")
    took = round(timing["end"] - timing["start"], 1)
    print(f"\n[timing] {what}: {took} ms")
    with TIMINGS.open("a") as out:
        out.write(json.dumps({"what": what, "ms": took}) + "\n")
    return took


@pytest.fixture
def stages(db):
    return {s.name: s for s in default_pipeline().stages.all()}


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def is_move(response, deal) -> bool:
    return response.url.endswith(f"/pipeline/deals/{deal.pk}/move/") and response.request.method == "POST"


def test_undo_moves_the_card_back_and_history_records_both_moves(page, sign_in, rep, stages):
    prospecting, qualification = stages["Prospecting"], stages["Qualification"]
    deal = DealFactory(owner=rep, stage=prospecting, title="Oops deal")
    sign_in(rep)
    watch(page, f'#cards-{qualification.pk} #deal-{deal.pk}[data-version="2"]')
    with page.expect_response(lambda r: is_move(r, deal)):
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{qualification.pk}"), steps=10)
    expect(page.locator(f'#cards-{qualification.pk} #deal-{deal.pk}[data-version="2"]')).to_be_visible()
    report(page, "drag and drop: drop to card in new column")

    toast = page.locator("#sf-toasts [role=status]").filter(has_text="“Oops deal” moved to Qualification.")
    expect(toast).to_be_visible()
    expect(page.locator("#sf-toasts")).to_have_attribute("aria-live", "polite")
    watch(page, f'#cards-{prospecting.pk} #deal-{deal.pk}[data-version="3"]')
    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        toast.get_by_role("button", name=re.compile("^Undo")).click()
    assert answer.value.status == 200
    expect(page.locator(f'#cards-{prospecting.pk} #deal-{deal.pk}[data-version="3"]')).to_be_visible()
    report(page, "undo: click to card back in its column")
    expect(toast).to_have_count(0)  # used once
    expect(page.locator("#sf-toasts [role=status]").filter(has_text="moved back to Prospecting")).to_be_visible()
    expect(page.locator(f"#col-head-{prospecting.pk} .sf-count")).to_have_text("1")
    expect(page.locator(f"#col-head-{qualification.pk} .sf-count")).to_have_text("0")
    moves = list(StageChange.objects.filter(deal=deal).order_by("pk").values_list("from_stage__name", "to_stage__name"))
    assert moves[-2:] == [("Prospecting", "Qualification"), ("Qualification", "Prospecting")]


def test_a_refused_undo_says_why_and_leaves_the_card(page, sign_in, rep, stages):
    Transition.objects.filter(to_stage=stages["Prospecting"]).delete()
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="One way")
    sign_in(rep)
    with page.expect_response(lambda r: is_move(r, deal)):
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{stages['Qualification'].pk}"), steps=10)
    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.get_by_role("button", name=re.compile("^Undo")).click()
    assert answer.value.status == 400
    expect(page.locator("#sf-toasts [role=alert]")).to_contain_text("Deals cannot move from “Qualification” to “Prospecting”")
    expect(page.locator(f"#cards-{stages['Qualification'].pk} #deal-{deal.pk}")).to_be_visible()


def test_a_deal_moves_and_moves_back_with_the_keyboard_alone(page, sign_in, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Keys only")
    sign_in(rep)
    title = page.locator(f"#deal-{deal.pk} .sf-card-title")
    for _ in range(80):  # Tab through the page in order until the card's link has the focus
        page.keyboard.press("Tab")
        if title.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the card could not be reached with Tab")
    page.keyboard.press("m")  # opens "Move to…" on the next stage
    menu = page.locator(f"#deal-{deal.pk} [role=menu]")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem", name="Qualification")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Meeting & demo")).to_be_focused()
    watch(page, f'#cards-{stages["Meeting & demo"].pk} #deal-{deal.pk}[data-version="2"]')
    with page.expect_response(lambda r: is_move(r, deal)):
        page.keyboard.press("Space")
    moved = page.locator(f'#cards-{stages["Meeting & demo"].pk} #deal-{deal.pk}[data-version="2"]')
    expect(moved).to_be_visible()
    report(page, "keyboard: Space in the Move to… menu to card in new column")
    # Announced to screen readers, and the focus follows the card.
    expect(page.locator("#sf-toasts [role=status]")).to_contain_text("“Keys only” moved to Meeting & demo.")
    expect(moved.locator(".sf-card-title")).to_be_focused()
    # Escape closes a menu and gives the focus back to its button.
    page.keyboard.press("m")
    page.keyboard.press("Escape")
    expect(moved.locator("[role=menu]")).to_be_hidden()
    expect(moved.get_by_role("button", name="Move to…")).to_be_focused()
    # "u" undoes the last move.
    with page.expect_response(lambda r: is_move(r, deal)):
        page.keyboard.press("u")
    expect(page.locator(f"#cards-{stages['Prospecting'].pk} #deal-{deal.pk} .sf-card-title")).to_be_focused()


def test_the_move_menu_opens_on_the_next_stage_and_its_arrows_stay_inside_it(page, sign_in, rep, stages):
    """The WAI-ARIA menu button pattern: `m` (or the button) opens the menu on the stage after the
    card's own, ↓ ↑ Home End move inside it, Escape closes it where it was; so `m` ↓ Enter moves a
    deal two stages on (it used to open on the first stage, ignore ↓ and move the deal back)."""
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Forward", amount=5000)
    sign_in(rep)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    title = page.locator(f"#deal-{deal.pk} .sf-card-title")

    # m, Escape: nothing moves.
    title.focus()
    page.keyboard.press("m")
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    assert posts == [] and page.url.endswith("/pipeline/")
    expect(page.locator(f"#cards-{stages['Qualification'].pk} #deal-{deal.pk}")).to_be_visible()

    # m, ↓, Enter: the menu opens on Meeting & demo, ↓ goes to Offer, two stages on.
    title.focus()
    page.keyboard.press("m")
    page.keyboard.press("ArrowDown")
    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 200
    moved = page.locator(f'#cards-{stages["Offer"].pk} #deal-{deal.pk}[data-version="2"]')
    expect(moved).to_be_visible()
    expect(moved.locator(".sf-card-title")).to_be_focused()
    deal.refresh_from_db()
    assert deal.stage == stages["Offer"]

    # The menu button and the menu, as the pattern describes them, on the card now in Offer.
    button = moved.get_by_role("button", name="Move to…")
    expect(button).to_have_attribute("aria-haspopup", "menu")
    expect(button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("m")
    menu = moved.get_by_role("menu", name="Move to…")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    item = menu.get_by_role("menuitem")
    expect(item).to_have_text(["Prospecting", "Qualification", "Meeting & demo", "Negotiation", "Retention", "Mark lost…"])
    expect(item.nth(3)).to_be_focused()  # Negotiation: the next stage, not the first one
    page.keyboard.press("ArrowDown")
    expect(item.nth(4)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(item.nth(3)).to_be_focused()
    page.keyboard.press("End")
    expect(item.nth(5)).to_be_focused()
    page.keyboard.press("ArrowDown")  # round the end
    expect(item.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(item.nth(5)).to_be_focused()
    page.keyboard.press("Home")
    expect(item.nth(0)).to_be_focused()
    page.keyboard.press("n")  # a letter goes to the next entry that starts with it, not to "New deal"
    expect(item.nth(3)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    # On the button ↓ opens the menu as well; Tab closes it.
    page.keyboard.press("ArrowDown")
    expect(item.nth(3)).to_be_focused()
    page.keyboard.press("Tab")
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    # A click opens it on the next stage too; a click elsewhere closes it.
    button.click()
    expect(item.nth(3)).to_be_focused()
    page.locator(f"#col-head-{stages['Offer'].pk}").click()
    expect(menu).to_be_hidden()
    assert len(posts) == 1 and deal.version == 2


def test_shortcuts_search_help_and_arrows_but_not_while_typing(page, sign_in, rep, stages):
    first = DealFactory(owner=rep, stage=stages["Prospecting"], title="First")
    second = DealFactory(owner=rep, stage=stages["Qualification"], title="Second")
    sign_in(rep)
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    page.keyboard.press("/")
    expect(page.locator("#id_q")).to_be_focused()
    page.keyboard.type("n?")  # typed into the search, not taken as shortcuts
    expect(page.locator("#id_q")).to_have_value("n?")
    expect(help_dialog).to_be_hidden()
    page.locator(f"#deal-{first.pk} .sf-card-title").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#deal-{second.pk} .sf-card-title")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(page.locator(f"#deal-{first.pk} .sf-card-title")).to_be_focused()
    page.keyboard.press("n")
    page.wait_for_url("**/pipeline/deals/new/")


def test_filtering_shows_an_empty_state_that_says_what_to_do(page, sign_in, rep, stages):
    DealFactory(owner=rep, stage=stages["Prospecting"], title="Visible")
    sign_in(rep)
    watch(page, ".sf-empty-board")
    with page.expect_response(lambda r: "q=nothing" in r.url):
        page.fill("#id_q", "nothing-like-this")
    expect(page.locator(".sf-empty-board")).to_contain_text("No deals match these filters.")
    report(page, "search: request to filtered board swapped in")
    page.get_by_role("link", name="Show all deals").click()
    expect(page.locator(".sf-card")).to_have_count(1)


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        base_url=live_server.url,
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in_on(page, user):
    page.goto("/accounts/login/?next=/pipeline/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/pipeline/")


def touch_drag(page, source, target):
    """A finger on the card, held past SortableJS's touch delay, then moved to the target."""
    start, end = source.bounding_box(), target.bounding_box()
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + 20
    x1, y1 = end["x"] + min(end["width"] / 2, 30), end["y"] + 30
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    page.wait_for_timeout(350)
    for i in range(1, 21):
        x, y = x0 + (x1 - x0) * i / 20, y0 + (y1 - y0) * i / 20
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        page.wait_for_timeout(16)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_the_board_scrolls_sideways_and_a_card_moves_by_touch(phone, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Thumb deal")
    sign_in_on(phone, rep)
    board = phone.locator("#sf-board")
    widths = board.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1]  # the columns scroll sideways
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the page itself does not
    head = phone.locator(f"#col-head-{stages['Prospecting'].pk}")
    assert head.evaluate("el => getComputedStyle(el).position") == "sticky"

    target = phone.locator(f"#cards-{stages['Qualification'].pk}")
    # The server's re-rendered card (version 2), not SortableJS's optimistic placement.
    watch(phone, f'#cards-{stages["Qualification"].pk} #deal-{deal.pk}[data-version="2"]')
    with phone.expect_response(lambda r: is_move(r, deal)) as answer:
        touch_drag(phone, phone.locator(f"#deal-{deal.pk}"), target)
    assert answer.value.status == 200
    expect(phone.locator(f'#cards-{stages["Qualification"].pk} #deal-{deal.pk}[data-version="2"]')).to_be_attached()
    report(phone, "phone: touch drop to card in new column")
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"]


def test_every_htmx_request_shows_the_loading_bar_and_swaps_shift_nothing(page, sign_in, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Slow deal")
    DealFactory(owner=rep, stage=stages["Qualification"], title="Neighbour")
    sign_in(rep)
    # Layout shifts from here on, as the browser reports them (CLS without recent input).
    page.evaluate("""() => {
      window.__sfShift = 0;
      new PerformanceObserver(list => { for (const e of list.getEntries()) if (!e.hadRecentInput) window.__sfShift += e.value; })
        .observe({type: "layout-shift", buffered: false});
    }""")
    bar = page.locator(".sf-loading-bar")
    expect(bar).to_have_css("opacity", "0")

    def slow(route):
        page.wait_for_timeout(600)
        route.continue_()

    page.route("**/deals/*/move/", slow)
    card = page.locator(f"#deal-{deal.pk}")
    card.get_by_text("Move to…").click()
    with page.expect_response(lambda r: is_move(r, deal)):
        card.get_by_role("menuitem", name="Qualification").click()
        expect(page.locator("html")).to_have_class(re.compile("sf-loading"))
        expect(bar).to_have_css("opacity", "1")
    expect(page.locator("html")).not_to_have_class(re.compile("sf-loading"))
    expect(page.locator(f'#cards-{stages["Qualification"].pk} #deal-{deal.pk}[data-version="2"]')).to_be_visible()
    with page.expect_response(lambda r: "q=neigh" in r.url):
        page.fill("#id_q", "neigh")
    expect(page.locator(".sf-card")).to_have_count(1)
    page.wait_for_timeout(300)
    shift = page.evaluate("window.__sfShift")
    print(f"\n[timing] cumulative layout shift over a move and a filter swap: {shift:.4f}")
    with TIMINGS.open("a") as out:
        out.write(json.dumps({"what": "cumulative layout shift (move + filter swap)", "cls": round(shift, 4)}) + "\n")
    assert shift < 0.1  # "good" by the Web Vitals definition; the board's swaps keep their boxes


def test_a_teammates_card_stays_put_when_dragged(page, sign_in, stages):
    """It is marked read-only and not draggable; the refusal of a card that became read-only after
    the page was drawn is in test_board.py."""
    from tests.factories import TeamFactory

    team = TeamFactory(name="North")
    rep = UserFactory(username="rita", role="rep", team=team)
    teammate = UserFactory(username="sam", role="rep", team=team)
    deal = DealFactory(owner=teammate, stage=stages["Prospecting"], title="Sam's deal")
    sign_in(rep)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    expect(page.locator(f"#deal-{deal.pk} .sf-readonly")).to_be_visible()
    page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{stages['Qualification'].pk}"), steps=10)
    expect(page.locator(f"#cards-{stages['Prospecting'].pk} #deal-{deal.pk}")).to_be_visible()
    assert posts == []


def test_all_six_columns_fit_a_1440_pixel_screen(page, sign_in, rep, stages):
    DealFactory(owner=rep, stage=stages["Retention"], title="Signed", amount=100, status="won")
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(rep)
    board = page.locator(".sf-board")
    expect(page.locator(".sf-column")).to_have_count(6)
    assert board.evaluate("b => b.scrollWidth <= b.clientWidth"), "the sixth column is cut off"
    last = page.locator(".sf-column").last.bounding_box()
    assert last["x"] + last["width"] <= 1440
