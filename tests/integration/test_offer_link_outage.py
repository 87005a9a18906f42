"""The customer's offer link under gunicorn while its Redis goes away and comes back.

The test runs its own throw-away redis-server on a free port and stops that one; the shared
Redis of the suite is never touched."""
import time
from decimal import Decimal

import pytest

from offers import services as offer_services
from offers.models import Product
from tests.factories import DealFactory, LeadFactory
from tests.services import Browser, Server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def sent_offer(rep, stages):
    product = Product.objects.create(name="Stageflow licence", unit="licence", list_price=Decimal("49.90"),
                                     currency="EUR", tax_rate=Decimal("19"))
    lead = LeadFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example")
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], lead=lead, amount=Decimal("500.00"))
    version = offer_services.offer_create(deal=deal, actor=rep, title="CRM for Acme")
    offer_services.line_add(version=version, actor=rep, product=product, quantity="10")
    version.refresh_from_db()
    _version, token = offer_services.offer_send(version=version, actor=rep, base_url="http://testserver")
    return token


def _fetch(browser, token):
    page_status, _, page_body, page_seconds = browser.request(f"/p/{token}/")
    pdf_status, _, pdf_body, pdf_seconds = browser.request(f"/p/{token}/pdf/")
    return page_status, "CRM for Acme" in page_body, pdf_status, pdf_body.startswith("%PDF"), max(page_seconds, pdf_seconds)


def test_customer_offer_page_and_pdf_survive_a_redis_outage(own_redis, sent_offer, tmp_path):
    server = Server(log_dir=tmp_path, REDIS_URL=own_redis.url, CELERY_BROKER_URL=own_redis.url).start()
    try:
        browser = Browser(server.url)
        before = _fetch(browser, sent_offer)
        own_redis.stop()
        during = [_fetch(browser, sent_offer) for _ in range(3)]
        own_redis.start()
        time.sleep(0.5)
        after = _fetch(browser, sent_offer)
    finally:
        server.stop()
    log = server.log()

    assert before[:4] == (200, True, 200, True), log
    for attempt in during:
        assert attempt[:4] == (200, True, 200, True), (during, log)
        assert attempt[4] < 5, "the page must not hang on the unreachable cache"
    assert after[:4] == (200, True, 200, True), log
    assert log.count("counts in this process only") == 1, log
    assert "rate limit is shared again" in log
