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
