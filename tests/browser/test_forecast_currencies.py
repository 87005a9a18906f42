"""A manager whose pipeline holds deals in euros and dollars sees one forecast card per period in
the reporting currency, one range chart, and opens a card's figures per currency as entered; the
board shows each column's converted total with the amounts per currency one click away."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from currencies.models import ExchangeRate
from forecasting import services
from tests.factories import DealFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deals(rep, stages):
    today = timezone.localdate()
    ExchangeRate.objects.create(currency="USD", day=today - timedelta(days=1), rate=Decimal("0.90"))
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), currency="EUR", expected_close=today + timedelta(days=5))
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("2000"), currency="USD", expected_close=today + timedelta(days=5))
    services.forecast_refresh_pipeline(pipeline_id=stages["Offer"].pipeline_id)


def test_the_manager_sees_one_card_per_period_and_the_currencies_one_click_away(page, sign_in, manager, deals):
    sign_in(manager, next_url="/forecast/?period=quarter")
    page.wait_for_function("() => Object.keys(Chart.instances).length >= 1")
    cards = page.locator(".sf-period-card")
    assert cards.count() == 3
    assert page.locator("#sf-range-charts canvas").count() == 1  # one currency, one range chart
    first = cards.first
    usd = first.locator("details.sf-originals tr[data-currency=USD]")
    assert not usd.is_visible()
    first.get_by_text("By currency, as entered").click()
    usd.wait_for(state="visible")
    assert "$" in usd.inner_text()


def test_the_board_shows_the_converted_total_and_the_currencies_on_a_click(page, sign_in, rep, stages, deals):
    sign_in(rep)
    head = page.locator(f"#col-head-{stages['Offer'].pk}")
    # 1,000 EUR + 2,000 USD × 0.90
    assert head.locator(".sf-total").inner_text() == "€2,800"
    original = head.locator(".sf-originals li[data-currency=USD]")
    assert not original.is_visible()
    head.get_by_text("By currency").click()
    original.wait_for(state="visible")
    assert "$2,000" in original.inner_text()
