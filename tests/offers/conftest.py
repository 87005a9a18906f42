"""Offer fixtures: products at two tax rates, a deal ready for an offer, and a sent offer."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers import services
from offers.models import Product
from tests.factories import DealFactory, OrganizationFactory


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Rate-limit counters live in the cache: each test gets an empty cache of its own, without
    flushing a shared Redis database (which may hold the broker's queues)."""
    import uuid

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"offers-{uuid.uuid4()}"}
    }


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
    organization = OrganizationFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example", country="DE")
    return DealFactory(owner=rep, stage=stages["Negotiation"], organization=organization, amount=Decimal("500.00"), title="Acme rollout")


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


@pytest.fixture(autouse=True)
def _tasks_run_in_process(monkeypatch):
    """The e-mails are sent by Celery tasks; here they run in-process even when REDIS_URL points
    the suite at a real broker (the worker itself is tested in tests/integration)."""
    from config.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
