"""Reads from a read replica with read-your-own-writes (config/replica.py), with a second database
alias, `replica`, that points at the test database itself: which alias served a query shows
where the router sent it."""
import time

import pytest
import time_machine
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config import replica
from pipeline.models import Deal
from tests.factories import DealFactory, UserFactory

# The alias exists from collection on, so that the test database's set-up makes it a mirror of
# the default one (the same database); the router uses it only where a test switches it on.
if "replica" not in connections.settings:
    connections.settings["replica"] = {
        **connections.settings["default"], "TEST": {**connections.settings["default"].get("TEST", {}), "MIRROR": "default"}
    }  # fmt: skip

# Committed rows only: the second connection does not see the test's open transaction.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replica_alias(settings):
    """Reads may use the `replica` alias in this test."""
    settings.DATABASE_REPLICA_ALIAS = "replica"
    settings.REPLICA_PIN_SECONDS = 15
    yield "replica"


def queries_on(alias, fn) -> int:
    with CaptureQueriesContext(connections[alias]) as captured:
        fn()
    return len(captured)


def test_a_board_request_reads_from_the_replica(client, replica_alias, rep, stages):
    DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    response = None

    def board():
        nonlocal response
        response = client.get(reverse("pipeline:board"))

    assert queries_on("replica", board) > 0
    assert response.status_code == 200
    assert "Deal" in response.content.decode()  # the replica holds the same rows


def test_whoever_moved_a_card_reads_from_the_primary_until_the_pin_ends(client, replica_alias, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    with time_machine.travel(time.time(), tick=False) as traveller:
        move = lambda: client.post(  # noqa: E731
            reverse("pipeline:deal_move", args=[deal.pk]), {"stage": stages["Qualification"].pk, "version": deal.version},
            HTTP_HX_REQUEST="true",
        )  # fmt: skip
        assert queries_on("replica", move) == 0  # a request that writes reads nothing from the replica
        assert replica.PIN_COOKIE in client.cookies
        assert Deal.objects.get(pk=deal.pk).stage_id == stages["Qualification"].pk

        board = lambda: client.get(reverse("pipeline:board"))  # noqa: E731
        assert queries_on("replica", board) == 0  # the mover's next page: the primary
        traveller.shift(16)
        assert queries_on("replica", board) > 0  # the pin is over


def test_someone_else_reads_from_the_replica_right_after_a_colleague_wrote(client, replica_alias, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    client.post(
        reverse("pipeline:deal_move", args=[deal.pk]), {"stage": stages["Qualification"].pk, "version": deal.version},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    other = client.__class__()
    other.force_login(UserFactory(username="colleague", role="admin", is_staff=True, is_superuser=True))
    assert queries_on("replica", lambda: other.get(reverse("pipeline:board"))) > 0


def test_a_forged_or_broken_pin_cookie_only_keeps_the_primary_or_is_ignored(client, replica_alias, rep):
    client.force_login(rep)
    client.cookies[replica.PIN_COOKIE] = "not a time"
    assert queries_on("replica", lambda: client.get(reverse("pipeline:board"))) > 0
    client.cookies[replica.PIN_COOKIE] = str(time.time() + 3600)
    assert queries_on("replica", lambda: client.get(reverse("pipeline:board"))) == 0


def test_outside_a_request_and_inside_a_transaction_reads_use_the_primary(replica_alias, rep):
    router = replica.ReplicaRouter()
    assert router.db_for_read(Deal) == "default"  # a task or a command
    token = replica._replica_allowed.set(True)
    try:
        assert router.db_for_read(Deal) == "replica"
        with transaction.atomic():
            assert router.db_for_read(Deal) == "default"
        assert router.db_for_write(Deal) == "default"
        assert router.allow_migrate("replica", "pipeline") is False
    finally:
        replica._replica_allowed.reset(token)


def test_without_a_replica_every_read_uses_the_primary(client, rep, settings):
    settings.DATABASE_REPLICA_ALIAS = ""
    client.force_login(rep)
    assert client.get(reverse("pipeline:board")).status_code == 200
    assert replica.ReplicaRouter().db_for_read(Deal) == "default"
    assert replica.PIN_COOKIE not in client.post(reverse("pipeline:board")).cookies
