"""The customer's link while the shared cache (Redis) is unreachable: the page and its PDF keep
working, the rate limit falls back to a counter in this process, and the outage is logged."""
import logging

import pytest
import redis.exceptions
from django.core.cache.backends.locmem import LocMemCache

from offers import ratelimit

pytestmark = pytest.mark.django_db


class UnreachableCache(LocMemCache):
    """A cache whose every operation fails the way redis-py fails when Redis is down."""

    def _down(self, *args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    add = get = set = incr = decr = delete = get_many = set_many = has_key = touch = _down


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.UnreachableCache", "LOCATION": "down"}}
    ratelimit.local_counters_clear()
    yield
    ratelimit.local_counters_clear()


def test_customer_page_and_pdf_work_while_the_cache_is_unreachable(client, sent, redis_down):
    _version, token = sent
    page = client.get(f"/p/{token}/")
    assert page.status_code == 200 and b"CRM for Acme" in page.content
    pdf = client.get(f"/p/{token}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_customer_can_accept_while_the_cache_is_unreachable(client, sent, redis_down):
    version, token = sent
    response = client.post(f"/p/{token}/accept/", {
        "name": "Jane Doe", "document_hash": version.document_hash, "confirm": "on",
    })
    assert response.status_code == 200
    version.refresh_from_db()
    assert version.status == "accepted"


def test_rate_limit_falls_back_to_a_local_counter_while_the_cache_is_unreachable(client, sent, settings, redis_down):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "OFFER_RATE_LIMIT_PER_TOKEN": 3, "OFFER_RATE_LIMIT_PER_IP": 5}
    _version, token = sent
    codes = [client.get(f"/p/{token}/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    guesses = [client.get(f"/p/guess{i}/").status_code for i in range(3)]
    assert guesses[-1] == 429
    assert client.get("/p/other/", REMOTE_ADDR="192.0.2.1").status_code == 410


def test_cache_outage_is_logged_once_not_on_every_request(client, sent, redis_down, caplog):
    _version, token = sent
    with caplog.at_level(logging.WARNING, logger="offers.ratelimit"):
        for _ in range(5):
            client.get(f"/p/{token}/")
    outage = [record for record in caplog.records if record.name == "offers.ratelimit"]
    assert len(outage) == 1
    assert "in this process" in outage[0].getMessage() and outage[0].exc_info is not None


def test_local_window_starts_afresh_after_the_window(time_machine):
    ratelimit.local_counters_clear()
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    assert [ratelimit.local_allow("k", limit=2, window=60) for _ in range(3)] == [True, True, False]
    time_machine.move_to("2026-03-02 09:01:01+00:00", tick=False)
    assert ratelimit.local_allow("k", limit=2, window=60) is True


def test_local_counters_stay_bounded_under_many_addresses(time_machine):
    ratelimit.local_counters_clear()
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    for i in range(ratelimit.LOCAL_MAX_KEYS * 2):
        ratelimit.local_allow(f"ip:{i}", limit=5, window=60)
    assert len(ratelimit._local.counters) <= ratelimit.LOCAL_MAX_KEYS
