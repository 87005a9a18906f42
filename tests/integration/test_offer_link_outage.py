"""The customer's offer link under gunicorn while its Redis goes away and comes back.

The test runs its own throw-away redis-server on a free port and stops that one; the shared
Redis of the suite is never touched."""
import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from offers import services as offer_services
from offers.models import Product
from outbox.models import OutboxMessage
from tests.factories import DealFactory, OrganizationFactory
from tests.services import ROOT, Browser, Server, Worker, subprocess_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def sent_offer(rep, stages):
    product = Product.objects.create(name="Stageflow licence", unit="licence", list_price=Decimal("49.90"),
                                     currency="EUR", tax_rate=Decimal("19"))
    organization = OrganizationFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example")
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], organization=organization, amount=Decimal("500.00"))
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


# --- The offer's e-mails while the broker is down -------------------------------------------------

SEND_AND_ACCEPT_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from offers import services
from offers.models import OfferVersion
version_id, user_id = map(int, sys.argv[1:3])
user = get_user_model().objects.get(pk=user_id)
started = time.monotonic()
version, token = services.offer_send(version=OfferVersion.objects.get(pk=version_id), actor=user,
                                     base_url="https://crm.example")
send_seconds = time.monotonic() - started
started = time.monotonic()
services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
print(json.dumps({"token": token, "send_seconds": send_seconds, "accept_seconds": time.monotonic() - started}))
"""


@pytest.fixture
def draft_offer(rep, stages):
    product = Product.objects.create(name="Stageflow licence", unit="licence", list_price=Decimal("49.90"),
                                     currency="EUR", tax_rate=Decimal("19"))
    organization = OrganizationFactory(name="Acme GmbH", contact_name="Jane Doe", contact_email="jane@acme.example")
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], organization=organization, amount=Decimal("500.00"))
    version = offer_services.offer_create(deal=deal, actor=rep, title="CRM for Acme")
    offer_services.line_add(version=version, actor=rep, product=product, quantity="10")
    return version


def test_an_offer_sent_and_accepted_while_the_broker_is_down_answers_at_once_and_its_emails_follow(
    own_redis, draft_offer, rep, tmp_path, capsys
):
    env = {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url}
    own_redis.stop()
    done = subprocess.run(
        [sys.executable, "-c", SEND_AND_ACCEPT_SCRIPT, str(draft_offer.pk), str(rep.pk)],
        cwd=ROOT, env=subprocess_env(**env), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    waiting = set(OutboxMessage.objects.filter(dispatched_at__isnull=True).values_list("handler", flat=True))

    own_redis.start()
    back = time.monotonic()
    # The e-mail backend of the worker is the console: its log is the mailbox.
    worker = Worker(log_dir=tmp_path, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend", **env)
    try:
        worker.start()
        link = f"https://crm.example/p/{result['token']}/"
        wait_for(lambda: link in worker.log() and "CRM for Acme" in worker.log() and ".pdf" in worker.log(),
                 timeout=60, message="the link and the signed copy e-mailed", details=worker.log)
        wait_for(lambda: not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists(), timeout=30,
                 message="every e-mail of the outage sent", details=worker.log)
        sent_after = time.monotonic() - back
    finally:
        worker.stop()

    with capsys.disabled():
        print(f"\nBroker down: the send answered in {result['send_seconds']:.2f} s, the acceptance in "
              f"{result['accept_seconds']:.2f} s; the e-mails were out {sent_after:.1f} s after Redis returned "
              "(including the worker's start)")
    assert result["send_seconds"] < 5 and result["accept_seconds"] < 5, "neither waits for the broker"
    assert {"offers.link_email", "offers.accepted_copy_email"} <= waiting, "the e-mails waited in the outbox"
    assert "the periodic sweep will" in done.stderr
    link_message = OutboxMessage.objects.get(handler="offers.link_email")
    assert "url" not in link_message.payload, "the customer's link is not kept once it was sent"
