"""Offer fixtures: products at two tax rates, a deal ready for an offer, and a sent offer."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers import services
from offers.models import Product
from tests.factories import DealFactory, LeadFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the cache; each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def licence(db):
    return Product.objects.create(name="Stageflow licence", unit="licence", list_price=Decimal("49.90"),
                                  currency="EUR", tax_rate=Decimal("19"))


@pytest.fixture
def book(db):
    return Product.objects.create(name="Sales handbook", unit="piece", list_price=Decimal("19.99"),
                                  currency="EUR", tax_rate=Decimal("7"))


@pytest.fixture
def offer_deal(rep, stages):
    """A deal in Negotiation with a contact but no expected close date (the won stage needs one)."""
    lead = LeadFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example", country="DE")
    return DealFactory(owner=rep, stage=stages["Negotiation"], lead=lead, amount=Decimal("500.00"), title="Acme rollout")


@pytest.fixture
def draft(offer_deal, rep, licence, book):
    version = services.offer_create(deal=offer_deal, actor=rep, title="CRM for Acme")
    services.line_add(version=version, actor=rep, product=licence, quantity="10", discount_percent="10")
    services.line_add(version=version, actor=rep, product=book, quantity="3")
    version.refresh_from_db()
    return version


@pytest.fixture
def sent(draft, rep):
    """(version, token) of a sent offer."""
    version, token = services.offer_send(version=draft, actor=rep, base_url="http://testserver")
    return version, token


def current_hash(version):
    from offers.documents import document_hash

    return document_hash(version)


def expire(version):
    version.token_expires_at = timezone.now() - timedelta(seconds=1)
    version.save(update_fields=["token_expires_at"])
