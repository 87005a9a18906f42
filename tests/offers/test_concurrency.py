"""Two clicks on "Accept" at the same moment, on PostgreSQL: the row lock on the offer version
lets one request record the acceptance and move the deal; the other finds it accepted and
returns the same answer. (SQLite serialises writers; its sequential double submit is tested in
test_services.)"""
import importlib
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from offers import services
from offers.models import Notification, OfferResponse, Product
from pipeline.models import DealStatus, Pipeline, StageChange
from tests.factories import DealFactory, OrganizationFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CLICKS = 8


@pytest.fixture(autouse=True)
def _postgresql_required():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (SQLite has no concurrent writers to race)")
    if not Pipeline.objects.exists():  # transactional tests flush the data migration's rows
        from django.apps import apps

        importlib.import_module("pipeline.migrations.0002_default_pipeline").create_defaults(apps, None)


def test_simultaneous_acceptances_move_the_deal_exactly_once():
    owner = UserFactory(username="rita-race", role="rep")
    organization = OrganizationFactory(contact_name="Jane Doe", contact_email="jane@acme.example")
    deal = DealFactory(owner=owner, stage=default_pipeline().stages.get(name="Negotiation"), organization=organization)
    product = Product.objects.create(name="Licence", list_price=Decimal("100.00"), tax_rate=Decimal("19"))
    version = services.offer_create(deal=deal, actor=owner)
    services.line_add(version=version, actor=owner, product=product, quantity="3")
    version, token = services.offer_send(version=version, actor=owner)

    barrier = threading.Barrier(CLICKS)
    outcomes = [None] * CLICKS

    def click(index):
        try:
            barrier.wait()
            outcomes[index] = services.offer_accept(
                token=token, name="Jane Doe", document_hash=version.document_hash, ip_address="203.0.113.9"
            )
        except Exception as error:  # asserted below
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click, args=(i,)) for i in range(CLICKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "an acceptance hung"

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert sorted(created for _response, created in outcomes) == [False] * (CLICKS - 1) + [True]
    assert len({response.pk for response, _created in outcomes}) == 1
    assert OfferResponse.objects.count() == 1
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON and deal.amount == Decimal("300.00")
    assert StageChange.objects.filter(deal=deal, to_status=DealStatus.WON).count() == 1
    assert Notification.objects.filter(recipient=owner, kind="accepted").count() == 1
