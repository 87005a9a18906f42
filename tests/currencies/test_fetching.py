"""The scheduled fetch reads a reference-rate feed from a real HTTP server (a local one, in a
thread), works out the rates into the reporting currency, logs every run for the admin, and keeps
the stored rates when the source cannot be reached."""
import socket
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.test import override_settings

from currencies import fetching, tasks
from currencies.models import ExchangeRate, RateFetch, RateSource

pytestmark = pytest.mark.django_db

FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time="2025-06-03">
      <Cube currency="USD" rate="1.1376"/><Cube currency="JPY" rate="163.45"/><Cube currency="CHF" rate="0.9367"/>
    </Cube>
    <Cube time="2025-06-02">
      <Cube currency="USD" rate="1.1444"/><Cube currency="JPY" rate="163.18"/><Cube currency="CHF" rate="0.9369"/>
      <Cube currency="GBP" rate="0.84430"/>
    </Cube>
  </Cube>
</gesmes:Envelope>
"""


class FeedHandler(BaseHTTPRequestHandler):
    body = FEED
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/eurofxref.xml"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def fetch_settings(url, **values):
    return override_settings(
        STAGEFLOW={**settings.STAGEFLOW, "RATES_FETCH_ENABLED": True, "RATES_FETCH_URL": url, "RATES_FETCH_TIMEOUT": 5,
                   **values}
    )


def test_the_task_fetches_the_feed_and_stores_the_rates_into_euro(feed_server):
    with fetch_settings(feed_server):
        result = tasks.exchange_rates_fetch()
    assert result["status"] == "ok" and result["written"] == 5  # USD and CHF twice, GBP once: the default currencies
    usd = ExchangeRate.objects.get(currency="USD", day=date(2025, 6, 2))
    assert usd.rate == Decimal("0.8738203425")  # 1 / 1.1444, to ten places
    assert usd.source == RateSource.FETCH and usd.base == "EUR"
    assert not ExchangeRate.objects.filter(currency="JPY").exists()  # not a configured currency
    fetch = RateFetch.objects.get()
    assert fetch.ok and fetch.rates_written == 5 and fetch.latest_day == date(2025, 6, 3)
    # Fetching the same file again changes nothing.
    with fetch_settings(feed_server):
        assert tasks.exchange_rates_fetch()["written"] == 0
    assert ExchangeRate.objects.count() == 5


def test_into_another_reporting_currency_the_rates_are_cross_rates(feed_server):
    with fetch_settings(feed_server, REPORTING_CURRENCY="USD"):
        tasks.exchange_rates_fetch()
    eur = ExchangeRate.objects.get(currency="EUR", day=date(2025, 6, 2))
    chf = ExchangeRate.objects.get(currency="CHF", day=date(2025, 6, 2))
    assert (eur.base, eur.rate) == ("USD", Decimal("1.1444"))
    assert chf.rate == Decimal("1.2214750774")  # 1.1444 / 0.9369


def test_without_network_the_task_reports_and_keeps_the_last_rates(caplog):
    ExchangeRate.objects.create(currency="USD", day=date(2025, 5, 30), rate=Decimal("0.88"))
    # A port nothing listens on: the connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with fetch_settings(f"http://127.0.0.1:{port}/eurofxref.xml"), caplog.at_level("WARNING"):
        result = tasks.exchange_rates_fetch()
    assert result["status"] == "failed"
    fetch = RateFetch.objects.get()
    assert not fetch.ok and "could not be reached" in fetch.message and "kept" in fetch.message
    assert "could not be fetched" in caplog.text
    assert ExchangeRate.objects.get().rate == Decimal("0.88")


def test_a_broken_file_is_reported_and_nothing_is_written(feed_server, monkeypatch):
    monkeypatch.setattr(FeedHandler, "body", b"<html>Maintenance</html")
    with fetch_settings(feed_server):
        assert tasks.exchange_rates_fetch()["status"] == "failed"
    assert "not XML" in RateFetch.objects.get().message
    assert not ExchangeRate.objects.exists()


def test_a_file_with_entities_is_refused_before_parsing():
    with pytest.raises(fetching.FeedInvalid):
        fetching.feed_rates(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')


def test_the_fetch_is_off_by_default_and_then_does_nothing(feed_server):
    assert settings.STAGEFLOW["RATES_FETCH_ENABLED"] is False
    assert tasks.exchange_rates_fetch() == {"status": "disabled"}
    assert not RateFetch.objects.exists()


def test_the_fetch_is_scheduled_with_the_others():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "currencies.tasks.exchange_rates_fetch"]
    assert len(entries) == 1
