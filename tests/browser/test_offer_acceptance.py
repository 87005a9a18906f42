"""A customer opens the offer link in a real browser, picks a package, signs with their name and
accepts; the deal is won with the customer recorded as the actor."""
from decimal import Decimal

import pytest

from offers import services
from offers.models import OfferResponse, Product
from pipeline.models import DealStatus, StageChange
from tests.factories import DealFactory, OrganizationFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def sent_offer():
    owner = UserFactory(username="rita-offers", role="rep")
    stage = default_pipeline().stages.get(name="Negotiation")
    organization = OrganizationFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example", country="GB")
    deal = DealFactory(owner=owner, stage=stage, organization=organization, title="Acme rollout", amount=Decimal("100.00"))
    licence = Product.objects.create(name="Team licence", unit="licence", list_price=Decimal("480.00"), tax_rate=Decimal("19"))
    workshop = Product.objects.create(name="Onboarding workshop", unit="day", list_price=Decimal("1200.00"), tax_rate=Decimal("19"))
    version = services.offer_create(deal=deal, actor=owner, title="CRM for Acme")
    services.version_update(version=version, actor=owner, benefit="One pipeline for the whole team.")
    basic = services.package_add(version=version, actor=owner, name="Basic")
    premium = services.package_add(version=version, actor=owner, name="Premium", is_recommended=False)
    services.line_add(version=version, actor=owner, product=licence, quantity="5")
    services.line_add(version=version, actor=owner, product=workshop, quantity="1", package=basic)
    services.line_add(version=version, actor=owner, product=workshop, quantity="3", package=premium)
    version, token = services.offer_send(version=version, actor=owner)
    return deal, version, token, premium


def test_customer_accepts_an_offer_online(page, sent_offer):
    deal, version, token, premium = sent_offer
    page.goto(f"/p/{token}/")
    assert page.locator("h1").first.inner_text() == "CRM for Acme"
    assert page.locator("a[href^='/pipeline/'], a[href^='/offers/'], nav").count() == 0  # nothing of the CRM

    page.get_by_label("Premium").check()
    page.get_by_label("Your full name").fill("Jane Doe")
    page.get_by_label("I accept this offer").check()
    page.get_by_role("button", name="Accept offer").click()

    page.get_by_role("heading", name="Thank you, this offer is accepted").wait_for()
    assert "Jane Doe" in page.content()
    answer = OfferResponse.objects.get()
    assert answer.package == premium and answer.name == "Jane Doe" and answer.user_agent
    assert answer.net_total == Decimal("6000.00")  # 5 × 480 + 3 × 1200
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON and deal.amount == Decimal("6000.00")
    assert StageChange.objects.get(deal=deal, to_status=DealStatus.WON).actor_label == (
        "Customer: Jane Doe (online acceptance)"
    )

    # Going back and clicking again does not accept twice; the link only says it was answered.
    page.go_back()
    page.reload()
    assert "CRM for Acme" not in page.locator("main").inner_text()
    assert StageChange.objects.filter(deal=deal, to_status=DealStatus.WON).count() == 1


def test_on_a_phone_every_line_shows_its_unit_price_and_amount_without_sideways_scrolling(page, sent_offer):
    deal, version, token, premium = sent_offer
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/p/{token}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    amounts = page.locator(".sf-proposal-lines td.sf-line-amount")
    assert amounts.count() >= 3
    for cell in (*amounts.all(), *page.locator(".sf-proposal-lines td[data-label='Unit price']").all()):
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, cell.inner_text()
    # The label of each value is shown beside it.
    assert page.locator(".sf-proposal-lines td[data-label='Amount']").first.evaluate(
        "cell => getComputedStyle(cell, '::before').content"
    ) == '"Amount"'
