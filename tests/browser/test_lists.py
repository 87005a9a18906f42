"""A rep's list in a real browser: filter it with the "add a filter" form, choose columns, save
the view pinned in the navigation, and find it again in the navigation's Lists menu."""
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.factories import DealFactory, OrganizationFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def test_a_rep_filters_saves_a_pinned_view_and_opens_it_from_the_navigation(page, sign_in, rep):
    stages = {s.name: s for s in default_pipeline().stages.all()}
    berlin = OrganizationFactory(name="Berlin GmbH", country="DE", owner=rep)
    vienna = OrganizationFactory(name="Wien AG", country="AT", owner=rep)
    DealFactory(owner=rep, organization=berlin, stage=stages["Offer"], title="Berlin rollout", amount=Decimal("9000"))
    DealFactory(owner=rep, organization=vienna, stage=stages["Offer"], title="Vienna pilot", amount=Decimal("500"))
    sign_in(rep, "/lists/deals/")
    rows = page.locator("table.sf-table tbody tr")
    expect(rows).to_have_count(2)

    page.get_by_text("Add a filter").click()
    page.select_option("#sf-add-field", "organization.country")
    page.fill("#sf-add-value", "DE")
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url("**organization.country=DE**")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Berlin rollout")

    page.get_by_text("Save this view").click()
    page.fill("#sf-view-name", "German deals")
    page.get_by_label("Pin in the navigation").check()
    page.get_by_role("button", name="Save view").click()
    page.wait_for_url("**saved=**")
    expect(page.locator("h1")).to_contain_text("German deals")

    page.goto("/pipeline/")
    page.get_by_role("button", name="Rita Roth").click()
    link = page.locator(".dropdown-menu a", has_text="German deals")
    expect(link).to_be_visible()
    link.click()
    expect(rows).to_have_count(1)
    page.screenshot(path="/tmp/stageflow-list-saved-view.png")
