"""The lists: who sees what, the filter language on every kind of field, sort, keyset paging,
totals, constant query counts and the CSV of exactly what is shown."""
import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from lists import selectors as list_selectors
from pipeline import custom_fields, services
from pipeline.filters import filters_parse
from pipeline.models import DealStatus, FieldType
from tests.factories import DealFactory, OrganizationFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db


def _titles(response) -> list[str]:
    return [row.record.title for row in response.context["page"].rows]


def _url(kind="deals", **params) -> str:
    return reverse("lists:list", args=[kind]) + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


@pytest.fixture
def deals(rep, stages):
    de = OrganizationFactory(name="Berlin GmbH", country="DE", owner=rep)
    at = OrganizationFactory(name="Wien AG", country="AT", owner=rep)
    made = {
        "small": DealFactory(title="Small", owner=rep, organization=de, stage=stages["Prospecting"], amount=Decimal("100")),
        "big": DealFactory(title="Big", owner=rep, organization=at, stage=stages["Offer"], amount=Decimal("9000")),
        "dollar": DealFactory(title="Dollar", owner=rep, organization=de, stage=stages["Offer"], amount=Decimal("500"),
                              currency="USD"),
        "none": DealFactory(title="No amount", owner=rep, organization=at, stage=stages["Prospecting"], amount=None),
    }
    services.deal_mark_lost(deal=made["small"], reason=lost_reason(), actor=rep)
    return made


def test_a_rep_starts_on_their_own_open_deals_and_never_sees_others(client, rep, deals, stages):
    DealFactory(title="Someone else's", stage=stages["Prospecting"])
    client.force_login(rep)
    response = client.get(_url())
    assert response.status_code == 200
    assert set(_titles(response)) == {"Big", "Dollar", "No amount"}
    everything = client.get(_url(view="all"))
    assert set(_titles(everything)) == {"Small", "Big", "Dollar", "No amount"}


def test_a_manager_starts_on_all_deals_of_their_team(client, manager, deals):
    client.force_login(manager)
    assert set(_titles(client.get(_url()))) == {"Small", "Big", "Dollar", "No amount"}


def test_tabs_show_open_won_and_lost_deals(client, rep, deals):
    client.force_login(rep)
    assert _titles(client.get(_url(status="lost"))) == ["Small"]
    assert client.get(_url(status="lost")).context["state"].tab == "lost"
    assert _titles(client.get(_url(status="won"))) == []


def test_filters_on_related_records_and_numbers(client, rep, deals):
    client.force_login(rep)
    assert set(_titles(client.get(_url(**{"organization.country": "DE", "view": "all"})))) == {"Small", "Dollar"}
    assert set(_titles(client.get(_url(amount__gte="500", view="all")))) == {"Big", "Dollar"}
    assert set(_titles(client.get(_url(amount__empty="1", view="all")))) == {"No amount"}
    assert set(_titles(client.get(_url(currency__ne="EUR", view="all")))) == {"Dollar"}
    assert set(_titles(client.get(_url(title__contains="ol", view="all")))) == {"Dollar"}
    assert set(_titles(client.get(_url(**{"organization.country__in": "AT,CH", "view": "all"})))) == {"Big", "No amount"}


def test_filters_and_sorting_on_custom_fields(client, rep, deals):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats", field_type=FieldType.NUMBER)
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="tier", name="Tier", field_type=FieldType.CHOICE,
                                      choices=["Gold", "Silver"])
    custom_fields.custom_field_create(actor=None, record_kind="organization", key="region", name="Region")
    services.deal_update(deal=deals["big"], actor=rep, custom={"seats": 9, "tier": "Gold"})
    services.deal_update(deal=deals["dollar"], actor=rep, custom={"seats": 10, "tier": "Silver"})
    from pipeline.organizations import organization_update

    organization_update(organization=deals["big"].organization, actor=rep, custom={"region": "Alps"})
    client.force_login(rep)
    # Numbers compare as numbers (10 > 9), not as text.
    assert _titles(client.get(_url(**{"cf.seats__gt": "9"}))) == ["Dollar"]
    assert _titles(client.get(_url(**{"cf.tier": "Gold"}))) == ["Big"]
    assert set(_titles(client.get(_url(**{"cf.tier__empty": "1", "status": "open"})))) == {"No amount"}
    assert set(_titles(client.get(_url(**{"organization.cf.region": "Alps"})))) == {"Big", "No amount"}  # both at Wien AG
    sorted_desc = _titles(client.get(_url(sort="-cf.seats")))
    assert sorted_desc[:2] == ["Dollar", "Big"]
    page = client.get(_url(cols="title,cf.seats,cf.tier"))
    assert [r.cells for r in page.context["page"].rows if r.record.title == "Big"] == [["Big", "9", "Gold"]]


def test_a_filter_it_cannot_read_is_reported_not_an_error(client, rep, deals):
    client.force_login(rep)
    response = client.get(_url(amount__gte="lots", nonsense="1", sort="-nonsense"))
    assert response.status_code == 200
    errors = " ".join(response.context["state"].parsed.errors)
    assert "lots" in errors and "nonsense" in errors


def test_totals_are_of_everything_that_matches_per_currency(client, rep, deals):
    client.force_login(rep)
    page = client.get(_url(view="all")).context["page"]
    assert page.count == 4
    assert dict(page.totals) == {"EUR": Decimal("9100.00"), "USD": Decimal("500.00")}


def test_keyset_paging_walks_every_row_once_in_order(client, rep, stages, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 3)
    organization = OrganizationFactory(owner=rep)
    for n in range(8):  # equal amounts, so the id breaks the ties
        DealFactory(title=f"D{n}", owner=rep, organization=organization, stage=stages["Prospecting"],
                    amount=Decimal("100") if n % 2 else None)
    client.force_login(rep)
    seen, url = [], _url(sort="-amount")
    while url:
        response = client.get(url)
        seen += _titles(response)
        url = response.context["next_url"]
    assert sorted(seen) == sorted(f"D{n}" for n in range(8)) and len(seen) == 8
    amounts = [t for t in seen]
    assert set(amounts[:4]) == {"D1", "D3", "D5", "D7"}  # with an amount first, empty last


def test_a_damaged_cursor_shows_the_first_page(client, rep, deals):
    client.force_login(rep)
    assert client.get(_url(after="garbage")).status_code == 200


def test_query_count_does_not_grow_with_the_rows(client, rep, stages, django_assert_max_num_queries):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="champion", name="Champion",
                                      field_type=FieldType.USER)
    organization = OrganizationFactory(owner=rep)
    client.force_login(rep)
    cols = "title,organization.name,stage,owner,amount,cf.champion"

    def make(n):
        for _ in range(n):
            deal = DealFactory(owner=rep, organization=organization, stage=stages["Prospecting"])
            services.deal_update(deal=deal, actor=rep, custom={"champion": rep.pk})

    make(2)
    client.get(_url(cols=cols))  # warm the session
    with django_assert_max_num_queries(12) as few:
        client.get(_url(cols=cols))
    make(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(_url(cols=cols))
    assert len(response.context["page"].rows) == 32


def test_the_csv_is_exactly_what_the_list_shows(client, rep, deals):
    client.force_login(rep)
    response = client.get(_url(cols="title,amount,organization.country", sort="-amount", view="all", format="csv"))
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Title", "Amount", "Organisation's country"]
    assert [r[0] for r in rows[1:]] == ["Big", "Dollar", "Small", "No amount"]


def test_the_add_filter_form_becomes_a_parameter_of_the_address(client, rep, deals):
    client.force_login(rep)
    response = client.get(_url(view="all", add_field="amount", add_op="gte", add_value="1000"))
    assert response.status_code == 302
    assert "amount__gte=1000" in response["Location"] and "view=all" in response["Location"]


@pytest.mark.parametrize("kind,expected", [
    ("organizations", "Berlin GmbH"), ("people", None), ("activities", None),
])
def test_the_other_lists_answer(client, rep, deals, kind, expected):
    client.force_login(rep)
    response = client.get(_url(kind))
    assert response.status_code == 200
    if expected:
        assert expected in response.content.decode()


def test_organisations_without_an_open_deal(client, rep, deals):
    client.force_login(rep)
    names = [r.record.name for r in client.get(_url("organizations", has_open_deal="0", **{"country": "DE"})).context["page"].rows]
    assert names == []  # Berlin has the open "Dollar" deal
    names = [r.record.name for r in client.get(_url("organizations", has_open_deal="1")).context["page"].rows]
    assert set(names) == {"Berlin GmbH", "Wien AG"}


def test_an_unknown_list_is_not_found(client, rep):
    client.force_login(rep)
    assert client.get(reverse("lists:list", args=["nothing"])).status_code == 404


@time_machine.travel(datetime(2026, 5, 14, 9, 0, tzinfo=timezone.get_current_timezone()), tick=False)
def test_relative_dates_follow_today(rep):
    from lists.specs import SPECS

    fields = SPECS["deals"].fields(rep)
    parsed = filters_parse(QueryDict("expected_close__gte=month_start&expected_close__lte=quarter_end&owner=me"), fields, user=rep)
    assert [c.value for c in parsed.conditions] == [date(2026, 5, 1), date(2026, 6, 30), rep.pk]
    assert parsed.errors == []
