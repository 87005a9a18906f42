"""A sales rep's journeys on the board, in a real browser."""
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from pipeline.models import Deal, DealStatus
from tests.factories import DealFactory, TeamFactory, UserFactory, default_pipeline, lost_reason

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def stages(db):
    return {s.name: s for s in default_pipeline().stages.all()}


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def is_move(response, deal) -> bool:
    return response.url.endswith(f"/pipeline/deals/{deal.pk}/move/") and response.request.method == "POST"


def test_drag_a_card_to_the_next_column(page, sign_in, rep, stages):
    prospecting, qualification = stages["Prospecting"], stages["Qualification"]
    deal = DealFactory(owner=rep, stage=prospecting, title="Drag me", amount=Decimal("1000"), currency="EUR")
    DealFactory(owner=rep, stage=qualification, title="Already there", amount=Decimal("500"), currency="EUR")
    sign_in(rep)
    expect(page.locator(f"#col-head-{qualification.pk} .sf-count")).to_have_text("1")

    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{qualification.pk}"), steps=10)
    assert answer.value.status == 200

    expect(page.locator(f"#cards-{qualification.pk} #deal-{deal.pk}")).to_be_visible()
    expect(page.locator(f"#cards-{prospecting.pk} .sf-card")).to_have_count(0)
    # The headers come from the database: counts and totals of both columns changed.
    expect(page.locator(f"#col-head-{qualification.pk} .sf-count")).to_have_text("2")
    expect(page.locator(f"#col-head-{qualification.pk} .sf-total")).to_have_text("€1,500")
    expect(page.locator(f"#col-head-{prospecting.pk} .sf-count")).to_have_text("0")
    expect(page.locator("#sf-toasts")).to_contain_text("“Drag me” moved to Qualification.")
    deal.refresh_from_db()
    assert deal.stage == qualification and deal.version == 2


def test_a_refused_drag_puts_the_card_back_and_says_why(page, sign_in, rep, stages):
    meeting, offer = stages["Meeting & demo"], stages["Offer"]
    DealFactory(owner=rep, stage=meeting, title="First in column")
    deal = DealFactory(owner=rep, stage=meeting, title="No amount yet", amount=None)
    DealFactory(owner=rep, stage=meeting, title="Oldest in column")
    sign_in(rep)
    cards = page.locator(f"#cards-{meeting.pk} .sf-card")
    before = cards.evaluate_all("cards => cards.map(c => c.id)")

    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{offer.pk}"), steps=10)
    assert answer.value.status == 400

    alert = page.locator("#sf-toasts [role=alert]")
    expect(alert).to_contain_text("To enter “Offer”, this deal needs an amount.")
    expect(page.locator(f"#cards-{offer.pk} #deal-{deal.pk}")).to_have_count(0)
    expect(page.locator(f"#cards-{meeting.pk} #deal-{deal.pk}")).to_be_visible()
    assert cards.evaluate_all("cards => cards.map(c => c.id)") == before  # back in its old place
    expect(page.locator(f"#col-head-{offer.pk} .sf-count")).to_have_text("0")
    deal.refresh_from_db()
    assert deal.stage == meeting and deal.version == 1


def test_a_stale_drag_shows_the_deal_where_it_really_is(page, sign_in, rep, stages):
    from pipeline import services

    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Moved elsewhere")
    sign_in(rep)
    services.deal_move(deal=deal, to_stage=stages["Offer"], actor=rep)  # a colleague, meanwhile

    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{stages['Qualification'].pk}"), steps=10)
    assert answer.value.status == 409

    expect(page.locator("#sf-toasts [role=alert]")).to_contain_text("Someone changed this deal in the meantime.")
    expect(page.locator(f"#cards-{stages['Offer'].pk} #deal-{deal.pk}")).to_be_visible()
    expect(page.locator(f"#deal-{deal.pk}")).to_have_count(1)
    expect(page.locator(f"#deal-{deal.pk}")).to_have_attribute("data-version", "2")
    expect(page.locator(f"#col-head-{stages['Offer'].pk} .sf-count")).to_have_text("1")


def test_move_a_card_with_the_move_to_menu(page, sign_in, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Keyboard deal")
    sign_in(rep)
    card = page.locator(f"#deal-{deal.pk}")
    card.get_by_text("Move to…").click()
    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        card.get_by_role("menuitem", name="Meeting & demo").click()
    assert answer.value.status == 200

    moved = page.locator(f"#cards-{stages['Meeting & demo'].pk} #deal-{deal.pk}")
    expect(moved).to_be_visible()
    expect(page.locator(f"#col-head-{stages['Meeting & demo'].pk} .sf-count")).to_have_text("1")
    # The re-rendered card offers the moves from its new stage (its column's menu).
    moved.get_by_text("Move to…").click()
    expect(moved.get_by_role("menuitem", name="Prospecting")).to_be_visible()
    expect(moved.get_by_role("menuitem", name="Meeting & demo")).to_have_count(0)
    deal.refresh_from_db()
    assert deal.stage == stages["Meeting & demo"]


def test_mark_a_deal_lost_with_a_reason_in_the_lost_zone(page, sign_in, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Will be lost")
    reason = lost_reason()
    sign_in(rep)

    page.locator(f"#deal-{deal.pk}").drag_to(page.locator("#sf-lost-zone"), steps=10)
    dialog = page.locator("#sf-lost-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Will be lost")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(dialog.locator("[data-error]")).to_have_text("Choose why this deal was lost.")  # no reason yet

    dialog.get_by_label("Why was it lost?").select_option(label=reason.name)
    dialog.get_by_label("Note (optional)").fill("Chose a cheaper tool")
    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal.pk}/lose/")) as answer:
        dialog.get_by_role("button", name="Mark lost").click()
    assert answer.value.status == 200

    expect(dialog).to_be_hidden()
    expect(page.locator(f"#deal-{deal.pk}")).to_have_count(0)
    expect(page.locator(f"#col-head-{stages['Qualification'].pk} .sf-count")).to_have_text("0")
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.lost_reason == reason and deal.lost_note == "Chose a cheaper tool"


def test_undo_in_the_lost_toast_reopens_the_deal(page, sign_in, rep, stages):
    qualification = stages["Qualification"]
    deal = DealFactory(owner=rep, stage=qualification, title="Lost by mistake")
    reason = lost_reason()
    sign_in(rep)
    page.locator(f"#deal-{deal.pk}").drag_to(page.locator("#sf-lost-zone"), steps=10)
    dialog = page.locator("#sf-lost-dialog")
    dialog.get_by_label("Why was it lost?").select_option(label=reason.name)
    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal.pk}/lose/")):
        dialog.get_by_role("button", name="Mark lost").click()
    expect(page.locator(f"#deal-{deal.pk}")).to_have_count(0)

    toast = page.locator("#sf-toasts .toast", has_text="“Lost by mistake” marked lost")
    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal.pk}/reopen/")) as answer:
        toast.get_by_role("button", name="Undo: reopen “Lost by mistake”").click()
    assert answer.value.status == 200
    expect(page.locator(f"#cards-{qualification.pk} #deal-{deal.pk}")).to_be_visible()
    expect(page.locator(f"#col-head-{qualification.pk} .sf-count")).to_have_text("1")
    expect(page.locator("#sf-toasts")).to_contain_text("“Lost by mistake” is open again.")
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.lost_reason is None


def test_cancelling_the_lost_dialog_puts_the_card_back(page, sign_in, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Stays open")
    sign_in(rep)
    page.locator(f"#deal-{deal.pk}").drag_to(page.locator("#sf-lost-zone"), steps=10)
    page.locator("#sf-lost-dialog").get_by_role("button", name="Cancel").click()
    expect(page.locator(f"#cards-{stages['Qualification'].pk} #deal-{deal.pk}")).to_be_visible()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_quick_add_puts_a_new_card_on_top_of_its_column(page, sign_in, rep, stages):
    offer = stages["Offer"]
    sign_in(rep)
    column = page.locator(f"section[data-stage-id='{offer.pk}']")
    column.get_by_text("Add deal").click()
    column.get_by_label("Title").fill("Quick one")
    column.get_by_label("Company").fill("Speedy GmbH")
    with page.expect_response(lambda r: "/add/" in r.url) as answer:
        column.get_by_role("button", name="Add", exact=True).click()
    assert answer.value.status == 400  # Offer needs an amount
    expect(column.locator("[role=alert]")).to_contain_text("To enter “Offer”, this deal needs an amount.")

    column.get_by_label("Amount").fill("4200")
    with page.expect_response(lambda r: "/add/" in r.url) as answer:
        column.get_by_role("button", name="Add", exact=True).click()
    assert answer.value.status == 200
    expect(column.locator(".sf-card").first).to_contain_text("Quick one")
    expect(page.locator(f"#col-head-{offer.pk} .sf-total")).to_have_text("€4,200")


def test_quick_add_takes_a_german_amount_as_typed(page, sign_in, rep, stages):
    rep.language = "de"
    rep.save()
    offer = stages["Offer"]
    sign_in(rep)
    column = page.locator(f"section[data-stage-id='{offer.pk}']")
    column.locator("summary").filter(has_text="Deal hinzufügen").click()
    page.fill(f"#qa-{offer.pk}-title", "Deutscher Betrag")
    page.fill(f"#qa-{offer.pk}-company", "Zahl GmbH")
    page.fill(f"#qa-{offer.pk}-amount", "1.234,56")
    with page.expect_response(lambda r: "/add/" in r.url) as answer:
        page.press(f"#qa-{offer.pk}-amount", "Enter")
    assert answer.value.status == 200
    expect(column.locator(".sf-card").first).to_contain_text("1.235 €")  # cards round to whole units
    assert Deal.objects.get(title="Deutscher Betrag").amount == Decimal("1234.56")


def test_a_refusal_keeps_the_board_when_debug_is_on(page, sign_in, rep, stages, settings):
    """`make run` serves with DEBUG on, where django-htmx replaces the page with 400 responses."""
    settings.DEBUG = True
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], title="Still no amount", amount=None)
    sign_in(rep)
    with page.expect_response(lambda r: is_move(r, deal)) as answer:
        page.locator(f"#deal-{deal.pk}").drag_to(page.locator(f"#cards-{stages['Offer'].pk}"), steps=10)
    assert answer.value.status == 400
    expect(page.locator("#sf-toasts [role=alert]")).to_contain_text("this deal needs an amount")
    expect(page.locator(f"#cards-{stages['Meeting & demo'].pk} #deal-{deal.pk}")).to_be_visible()
    expect(page.locator("#sf-board")).to_have_count(1)


def test_a_teammates_card_is_read_only_and_a_refused_drag_keeps_the_board(page, sign_in, rep, stages, settings):
    """Under DEBUG (`make run`) django-htmx used to put Django's bare "403 Forbidden" page in place
    of the board; now the board says why in a toast and stays."""
    settings.DEBUG = True
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    rep.team = TeamFactory(name="North")
    rep.save()
    teammate = UserFactory(username="sam", first_name="Sam", last_name="Stone", role="rep", team=rep.team)
    prospecting, qualification = stages["Prospecting"], stages["Qualification"]
    theirs = DealFactory(owner=teammate, stage=prospecting, title="Sam's deal")
    handed_over = DealFactory(owner=rep, stage=prospecting, title="Handed over")
    sign_in(rep)
    moves = []
    page.on("request", lambda r: moves.append(r.url) if r.method == "POST" and "/move/" in r.url else None)

    card = page.locator(f"#deal-{theirs.pk}")
    expect(card).to_have_attribute("data-readonly", "1")
    expect(card.locator(".sf-readonly")).to_have_text(re.compile("Read-only"))
    expect(card.get_by_text("Move to…")).to_have_count(0)
    card.drag_to(page.locator(f"#cards-{qualification.pk}"), steps=10)
    expect(page.locator(f"#cards-{prospecting.pk} #deal-{theirs.pk}")).to_be_visible()
    assert moves == []  # a read-only card does not leave its column

    # A card that became read-only after the page was drawn (its deal was given to a teammate).
    handed_over.owner = teammate
    handed_over.save()
    with page.expect_response(lambda r: is_move(r, handed_over)) as answer:
        page.locator(f"#deal-{handed_over.pk}").drag_to(page.locator(f"#cards-{qualification.pk}"), steps=10)
    assert answer.value.status == 403
    expect(page.locator("#sf-toasts [role=alert]")).to_contain_text("You can see this deal but not change it.")
    expect(page.locator("#sf-board")).to_have_count(1)
    expect(page.locator(f"#cards-{prospecting.pk} #deal-{handed_over.pk}")).to_be_visible()
    handed_over.refresh_from_db()
    assert handed_over.stage == prospecting


def test_filtering_updates_the_url_and_the_filtered_board_still_drags(page, sign_in, rep, stages):
    wanted = DealFactory(owner=rep, stage=stages["Prospecting"], title="Fjord analytics")
    DealFactory(owner=rep, stage=stages["Prospecting"], title="Other deal")
    sign_in(rep)
    with page.expect_response(lambda r: "q=fjord" in r.url):
        page.get_by_label("Search").fill("fjord")
    expect(page.locator(".sf-card")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]q=fjord"))
    with page.expect_response(lambda r: is_move(r, wanted)) as answer:
        page.locator(f"#deal-{wanted.pk}").drag_to(page.locator(f"#cards-{stages['Qualification'].pk}"), steps=10)
    assert answer.value.status == 200
    # The header counts only what the filter shows.
    expect(page.locator(f"#col-head-{stages['Prospecting'].pk} .sf-count")).to_have_text("0")
    page.reload()
    expect(page.locator(".sf-card")).to_have_count(1)


def test_after_going_back_the_restored_board_still_drags(page, sign_in, rep, stages):
    DealFactory(owner=rep, stage=stages["Prospecting"], title="Fjord analytics")
    other = DealFactory(owner=rep, stage=stages["Prospecting"], title="Other deal")
    sign_in(rep)
    with page.expect_response(lambda r: "q=fjord" in r.url):
        page.get_by_label("Search").fill("fjord")
    expect(page.locator(".sf-card")).to_have_count(1)
    page.go_back()  # htmx restores the unfiltered board from its history cache
    expect(page.locator(f"#deal-{other.pk}")).to_be_visible()
    with page.expect_response(lambda r: is_move(r, other)) as answer:
        page.locator(f"#deal-{other.pk}").drag_to(page.locator(f"#cards-{stages['Qualification'].pk}"), steps=10)
    assert answer.value.status == 200
    expect(page.locator(f"#cards-{stages['Qualification'].pk} #deal-{other.pk}")).to_be_visible()


def test_load_more_appends_the_next_cards_to_the_column(page, sign_in, rep, stages, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "BOARD_PAGE_SIZE": 2}
    qualification = stages["Qualification"]
    deals = [DealFactory(owner=rep, stage=qualification, title=f"Deal {i}") for i in range(3)]
    sign_in(rep)
    column = page.locator(f"#cards-{qualification.pk}")
    expect(column.locator(".sf-card")).to_have_count(2)
    expect(page.locator(f"#col-head-{qualification.pk} .sf-count")).to_have_text("3")
    page.locator(f"#more-{qualification.pk}").click()
    expect(column.locator(".sf-card")).to_have_count(3)
    expect(page.locator(f"#more-{qualification.pk}")).to_have_count(0)
    oldest = deals[0]  # the board shows the newest arrivals first, so the oldest came last
    expect(column.locator(".sf-card").last).to_have_id(f"deal-{oldest.pk}")
    with page.expect_response(lambda r: is_move(r, oldest)) as answer:
        page.locator(f"#deal-{oldest.pk}").drag_to(page.locator(f"#cards-{stages['Meeting & demo'].pk}"), steps=10)
    assert answer.value.status == 200
