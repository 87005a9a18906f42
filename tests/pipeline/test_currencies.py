"""A deal's currency is one of the configured ones (STAGEFLOW["CURRENCIES"], ISO 4217 codes):
the rule lives in pipeline.services.currency_clean, which the API, the import and the forms use."""
from decimal import Decimal

import pytest

from pipeline import services
from pipeline.exceptions import PipelineError
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", ["ZZZ", "BTC", "QQQ"])
def test_a_well_formed_code_that_is_not_configured_is_refused_naming_the_configured_ones(code):
    with pytest.raises(PipelineError) as refused:
        services.currency_clean(code)
    assert refused.value.code == "invalid_currency"
    assert "EUR, USD, GBP, CHF" in str(refused.value.message)


@pytest.mark.parametrize("code", ["ÄÖÜ", "EURO", "E1R", "€"])
def test_a_code_that_is_not_three_latin_letters_is_refused(code):
    with pytest.raises(PipelineError) as refused:
        services.currency_clean(code)
    assert "is not a currency code such as EUR" in str(refused.value.message)


def test_configured_codes_are_accepted_in_any_case_and_empty_means_the_default(settings):
    assert services.currency_clean(" usd ") == "USD"
    assert services.currency_clean(None) == settings.STAGEFLOW["DEFAULT_CURRENCY"]


def test_the_configured_list_is_the_rule(settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "CURRENCIES": ["EUR", "JPY"]}
    assert services.currency_clean("JPY") == "JPY"
    with pytest.raises(PipelineError):
        services.currency_clean("USD")


def test_deal_create_refuses_an_unknown_currency(rep, stages):
    with pytest.raises(PipelineError):
        services.deal_create(actor=rep, organization=OrganizationFactory(owner=rep), title="Crypto", currency="BTC")


def test_deal_update_refuses_an_unknown_currency_but_keeps_one_it_already_has(rep, stages, settings):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], currency="JPY", amount=Decimal("100.00"))
    # JPY was configured once and is no longer: the deal keeps it while other fields change.
    deal = services.deal_update(deal=deal, actor=rep, currency="JPY", title="Renamed")
    assert (deal.currency, deal.title) == ("JPY", "Renamed")
    with pytest.raises(PipelineError):
        services.deal_update(deal=deal, actor=rep, currency="ZZZ")
    deal = services.deal_update(deal=deal, actor=rep, currency="EUR")
    with pytest.raises(PipelineError):
        services.deal_update(deal=deal, actor=rep, currency="JPY")


def test_admin_form_refuses_an_unknown_currency_and_keeps_the_one_a_deal_has(rep, stages):
    from pipeline.admin import DealAdminForm

    deal = DealFactory(owner=rep, stage=stages["Prospecting"], currency="JPY")

    def form(currency):
        data = {"title": deal.title, "organization": deal.organization_id, "stage": deal.stage_id, "owner": rep.pk, "currency": currency,
                "expected_version": deal.version, "next_step": ""}
        return DealAdminForm(data=data, instance=deal)

    assert form("JPY").is_valid(), form("JPY").errors
    refused = form("ZZZ")
    assert not refused.is_valid() and "EUR, USD, GBP, CHF" in str(refused.errors)
