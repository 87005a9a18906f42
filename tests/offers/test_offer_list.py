"""The offers list: each offer's value in its currency and a status filter, for what the user may see."""
import re
from decimal import Decimal as D

import pytest
from django.urls import reverse

from offers import selectors, services
from offers.models import VersionStatus
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = reverse("offers:list")


def rows(response) -> dict[str, str]:
    """The list's rows by offer title (the first cell), as HTML."""
    body = response.content.decode()
    table = body[body.index("<tbody>") : body.index("</tbody>")]
    found = {}
    for row in table.split("<tr>")[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if len(cells) > 1:
            found[cells[0].split(" · ", 1)[1]] = row
    return found


def value_cell(row: str) -> str:
    return re.search(r'<td class="text-end text-nowrap sf-offer-value"[^>]*>(.*?)</td>', row, re.S).group(1).strip()


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def packaged(offer_deal, rep, licence):
    """A draft with Basic (1 licence) and the recommended Premium (3 licences), and a common workshop."""
    version = services.offer_create(deal=offer_deal, actor=rep, title="Packages for Acme")
    basic = services.package_add(version=version, actor=rep, name="Basic")
    premium = services.package_add(version=version, actor=rep, name="Premium", is_recommended=True)
    services.line_add(version=version, actor=rep, product=licence, quantity="1", package=basic)
    services.line_add(version=version, actor=rep, product=licence, quantity="3", package=premium)
    services.line_add(version=version, actor=rep, description="Workshop", quantity="1", unit_price="200", tax_rate="19")
    return version, basic, premium


def test_the_list_shows_each_offers_net_value_in_its_currency(rep_client, draft):
    page = rep_client.get(LIST)
    assert "Value (net)" in page.content.decode()
    # 10 licences at 49.90 less 10 % (449.10) and 3 books at 19.99 (59.97): net, before tax.
    assert value_cell(rows(page)["CRM for Acme"]) == "€509.07"


def test_the_value_is_written_as_the_readers_language_writes_numbers(client, rep, draft):
    rep.language = "de"
    rep.save(update_fields=["language"])
    client.force_login(rep)
    page = client.get(LIST)
    assert "Wert (netto)" in page.content.decode()
    assert value_cell(rows(page)["CRM for Acme"]) == "509,07\xa0€"  # a space that does not break


def test_an_offer_in_another_currency_is_valued_in_it_not_converted(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"], title="US rollout", amount=D("1000"), currency="USD")
    version = services.offer_create(deal=deal, actor=rep, title="US licences")
    version.currency = "USD"
    version.save(update_fields=["currency"])
    services.line_add(version=version, actor=rep, description="Licence", quantity="2", unit_price="1234.50", tax_rate="0")
    assert value_cell(rows(rep_client.get(LIST))["US licences"]) == "$2,469.00"


def test_with_packages_the_value_is_the_recommended_packages(rep_client, packaged):
    # The workshop (200.00) belongs to every package; Premium adds 3 × 49.90.
    assert value_cell(rows(rep_client.get(LIST))["Packages for Acme"]) == "€349.70"


def test_an_accepted_offer_is_valued_by_the_package_the_customer_chose(rep_client, rep, packaged):
    version, basic, _premium = packaged
    version, token = services.offer_send(version=version, actor=rep, base_url="http://testserver")
    services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash, package_id=basic.pk)
    # A newer draft of the same offer does not change what was accepted.
    services.offer_revise(version=version, actor=rep)
    row = rows(rep_client.get(LIST))["Packages for Acme"]
    assert value_cell(row) == "€249.90"  # the workshop and one licence
    assert 'data-version="1"' in row


def test_a_newer_draft_values_the_offer_while_nothing_is_accepted(rep_client, rep, sent, licence):
    version, _token = sent
    newer = services.offer_revise(version=version, actor=rep)
    services.line_add(version=newer, actor=rep, product=licence, quantity="1")
    row = rows(rep_client.get(LIST))["CRM for Acme"]
    assert 'data-version="2"' in row and value_cell(row) == "€558.97"  # 509.07 + 49.90


def test_the_status_filter_keeps_offers_with_a_version_in_that_status(rep_client, rep, draft, sent, offer_deal):
    # `sent` sent the `draft` fixture's version: make one more offer that stays a draft.
    services.offer_create(deal=offer_deal, actor=rep, title="Still a draft")
    everything = rows(rep_client.get(LIST))
    assert set(everything) == {"CRM for Acme", "Still a draft"}
    assert set(rows(rep_client.get(LIST, {"status": "sent"}))) == {"CRM for Acme"}
    assert set(rows(rep_client.get(LIST, {"status": "draft"}))) == {"Still a draft"}
    empty = rep_client.get(LIST, {"status": "accepted"})
    assert rows(empty) == {}
    assert "No offer has a version with this status." in empty.content.decode()
    assert "Show all offers" in empty.content.decode()


def test_the_filter_shows_the_chosen_status_and_translated_labels(client, rep, draft):
    rep.language = "de"
    rep.save(update_fields=["language"])
    client.force_login(rep)
    body = client.get(LIST, {"status": "draft"}).content.decode()
    assert '<option value="draft" selected>Entwurf</option>' in body
    assert '<option value="">Alle Status</option>' in body
    assert '<label class="form-label small mb-1" for="id_status">Status</label>' in body
    for status in VersionStatus:
        assert f'<option value="{status.value}"' in body


def test_an_unknown_status_is_said_and_the_whole_list_shown(rep_client, draft):
    page = rep_client.get(LIST, {"status": "lost-in-space"})
    assert page.status_code == 200
    assert "Select a valid choice." in page.content.decode()
    assert set(rows(page)) == {"CRM for Acme"}


def test_filters_never_show_offers_the_user_may_not_see(client, rep, draft):
    stranger = UserFactory(username="otto", role="rep", team=TeamFactory(name="South"))
    theirs = DealFactory(owner=stranger, stage=draft.offer.deal.stage, title="South deal",
                         organization=OrganizationFactory(name="Südwerk AG"))
    services.offer_create(deal=theirs, actor=stranger, title="South offer")
    client.force_login(rep)
    for query in ({}, {"status": "draft"}, {"status": ""}):
        assert "South offer" not in rows(client.get(LIST, query))
    client.force_login(stranger)
    assert set(rows(client.get(LIST, {"status": "draft"}))) == {"South offer"}


def test_the_list_reads_a_fixed_number_of_queries_however_many_offers(rep, offer_deal, licence, django_assert_num_queries):
    def add(n):
        for i in range(n):
            version = services.offer_create(deal=offer_deal, actor=rep, title=f"Offer {i}")
            services.line_add(version=version, actor=rep, product=licence, quantity="2")
            packages = services.package_add(version=version, actor=rep, name="One")
            services.line_add(version=version, actor=rep, product=licence, quantity="1", package=packages)

    add(2)
    with django_assert_num_queries(4):  # offers, versions with their answers, lines, packages
        few = selectors.offer_list(rep)
    add(5)
    with django_assert_num_queries(4):
        many = selectors.offer_list(rep, status="draft")
    assert len(few) == 2 and len(many) == 7
    assert {offer.value for offer in many} == {D("149.70")}  # 2 licences + the package's one
