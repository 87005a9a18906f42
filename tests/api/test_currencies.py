"""The API refuses unknown currencies and an empty amount with a 400 that names the field."""
import pytest

from pipeline.models import Deal
from tests.api.conftest import client_for
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["ZZZ", "BTC", "QQQ", "ÄÖÜ"])
def test_creating_a_deal_in_an_unknown_currency_is_400_with_a_field_message(rep, stages, code):
    response = client_for(rep).post(
        "/api/v1/deals/", {"title": "Fine", "organization": OrganizationFactory(owner=rep).pk, "currency": code}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and body["currency"][0].startswith(f"“{code}” is not")
    assert not Deal.objects.exists()


@pytest.mark.parametrize("code", ["ZZZ", "BTC", "QQQ", "ÄÖÜ"])
def test_changing_a_deal_to_an_unknown_currency_is_400_with_a_field_message(rep, own_deal, code):
    response = client_for(rep).patch(
        f"/api/v1/deals/{own_deal.pk}/", {"currency": code, "version": own_deal.version}, format="json"
    )
    assert response.status_code == 400 and "currency" in response.json(), response.content
    own_deal.refresh_from_db()
    assert own_deal.currency == "EUR"


def test_a_configured_currency_in_lower_case_is_stored_in_upper_case(rep, stages):
    response = client_for(rep).post(
        "/api/v1/deals/", {"title": "Fine", "organization": OrganizationFactory(owner=rep).pk, "currency": "usd"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Deal.objects.get().currency == "USD"


@pytest.mark.parametrize("amount", ["", "  "])
def test_an_empty_amount_string_is_400_with_a_field_message(rep, stages, own_deal, amount):
    client = client_for(rep)
    created = client.post(
        "/api/v1/deals/", {"title": "Fine", "organization": OrganizationFactory(owner=rep).pk, "amount": amount}, format="json"
    )
    assert created.status_code == 400 and "amount" in created.json(), created.content
    changed = client.patch(f"/api/v1/deals/{own_deal.pk}/", {"amount": amount, "version": own_deal.version}, format="json")
    assert changed.status_code == 400 and "amount" in changed.json(), changed.content


def test_null_amount_still_clears_it(rep, own_deal):
    response = client_for(rep).patch(
        f"/api/v1/deals/{own_deal.pk}/", {"amount": None, "version": own_deal.version}, format="json"
    )
    assert response.status_code == 200, response.content
    own_deal.refresh_from_db()
    assert own_deal.amount is None
