"""The deal page's "Move to…" form confirms a move as the board does: a toast with Undo."""
import re

import pytest
from playwright.sync_api import expect

from pipeline.models import StageChange
from tests.factories import DealFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_move_from_the_deal_page_can_be_undone_from_its_toast(page, sign_in):
    stages = {s.name: s for s in default_pipeline().stages.all()}
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="Second thoughts")
    sign_in(rep)
    page.goto(deal.get_absolute_url())
    page.locator("#move-stage").select_option(label="Qualification")
    page.locator("#move").get_by_role("button", name="Move").click()

    page.wait_for_url(f"**{deal.get_absolute_url()}")
    expect(page.locator(".sf-stage-pill")).to_have_text("Qualification")
    toast = page.locator("#sf-toasts [role=status]").filter(has_text="“Second thoughts” moved to Qualification.")
    expect(toast).to_have_count(1)
    with page.expect_navigation():
        toast.get_by_role("button", name=re.compile("^Undo: move back to Prospecting")).click()

    expect(page.locator(".sf-stage-pill")).to_have_text("Prospecting")
    expect(page.locator("#sf-toasts [role=status]").filter(has_text="moved back to Prospecting")).to_be_visible()
    moves = list(StageChange.objects.filter(deal=deal).order_by("pk").values_list("from_stage__name", "to_stage__name"))
    assert moves[-2:] == [("Prospecting", "Qualification"), ("Qualification", "Prospecting")]


def test_a_rep_changes_a_deals_company_by_typing_and_picking_a_suggestion(page, sign_in):
    from tests.factories import OrganizationFactory

    stages = {s.name: s for s in default_pipeline().stages.all()}
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], title="New home")
    target = OrganizationFactory(name="Zebra Logistics", owner=rep)
    OrganizationFactory(name="Zebra Secret", owner=UserFactory(username="olga", role="rep"))
    sign_in(rep)
    page.goto(deal.get_absolute_url())
    expect(page.locator("#lose")).to_be_hidden()  # the lost form waits behind "Mark lost…"
    page.locator("#edit summary").click()
    field = page.locator("#id_organization")
    field.fill("")
    with page.expect_response(lambda response: "/pipeline/organizations/lookup/" in response.url):
        field.press_sequentially("Zebra", delay=30)
    options = page.locator("#id_organization-suggestions option")
    expect(options).to_have_count(1)
    field.fill(options.first.get_attribute("value"))  # what picking the suggestion fills in
    with page.expect_navigation():
        page.locator("#edit").get_by_role("button", name="Save").click()
    deal.refresh_from_db()
    assert deal.organization == target
