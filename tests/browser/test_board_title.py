"""The tab title follows the board when a filter change swaps it in without a page load."""
import pytest
from playwright.sync_api import expect

from pipeline.models import Pipeline, Stage, Transition
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_choosing_another_pipeline_updates_the_tab_title(page, sign_in):
    upsell = Pipeline.objects.create(name="Upsell", position=1)
    stage = Stage.objects.create(pipeline=upsell, name="Idea", position=0, probability=30, colour="#123456")
    Transition.objects.create(pipeline=upsell, to_stage=stage)
    sign_in(UserFactory(username="rita", role="rep"))
    expect(page).to_have_title("Board · New business · Stageflow")
    with page.expect_response(lambda r: "/pipeline/" in r.url and r.request.headers.get("hx-request") == "true"):
        page.locator("#id_pipeline").select_option(label="Upsell")
    expect(page.locator(f'#sf-board[data-pipeline-id="{upsell.pk}"]')).to_be_visible()
    expect(page).to_have_title("Board · Upsell · Stageflow")
    assert page.locator("body title").count() == 0  # htmx took the title; it is not left in the board
