"""Board cards show up to three admin-chosen deal fields, with a constant number of queries."""
import pytest

from pipeline import custom_fields, services
from pipeline.models import FieldType
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _board(client, rep):
    client.force_login(rep)
    return client.get("/pipeline/").content.decode()


def test_cards_show_the_chosen_fields_and_no_others(client, rep, stages):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats", field_type=FieldType.NUMBER,
                                      on_cards=True)
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="champion", name="Champion",
                                      field_type=FieldType.USER, on_cards=True)
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="secret", name="Internal code")
    deal = DealFactory(owner=rep, organization=OrganizationFactory(owner=rep), stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"seats": 40, "champion": rep.pk, "secret": "XYZ"})
    page = _board(client, rep)
    assert "Seats" in page and "<dd>40</dd>" in page and f"<dd>{rep}</dd>" in page
    assert "Internal code" not in page and "XYZ" not in page


def test_a_renamed_card_field_shows_its_new_label_at_once(client, rep, stages):
    field = custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats",
                                              field_type=FieldType.NUMBER, on_cards=True)
    deal = DealFactory(owner=rep, organization=OrganizationFactory(owner=rep), stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"seats": 4})
    assert "Seats" in _board(client, rep)
    custom_fields.custom_field_update(field=field, actor=None, name="Licences")
    page = _board(client, rep)
    assert "Licences" in page and "<dt>Seats</dt>" not in page


def test_the_board_query_count_does_not_grow_with_card_fields(client, rep, stages, django_assert_max_num_queries):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="champion", name="Champion",
                                      field_type=FieldType.USER, on_cards=True)
    organization = OrganizationFactory(owner=rep)
    client.force_login(rep)

    def make(n):
        for _ in range(n):
            deal = DealFactory(owner=rep, organization=organization, stage=stages["Prospecting"])
            services.deal_update(deal=deal, actor=rep, custom={"champion": rep.pk})

    make(2)
    client.get("/pipeline/")
    with django_assert_max_num_queries(40) as few:
        client.get("/pipeline/")
    make(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/pipeline/")


def test_a_moved_card_shows_its_fields_too(client, rep, stages):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats", field_type=FieldType.NUMBER,
                                      on_cards=True)
    deal = DealFactory(owner=rep, organization=OrganizationFactory(owner=rep), stage=stages["Prospecting"])
    deal = services.deal_update(deal=deal, actor=rep, custom={"seats": 7})
    client.force_login(rep)
    response = client.post(f"/pipeline/deals/{deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": deal.version},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<dd>7</dd>" in response.content.decode()
