"""Custom fields: the definitions' rules, each type's values through the service, the deal form,
the API (and its schema), import, export, webhooks, entry rules and history."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import ConfigChange
from pipeline import configuration, custom_fields, services
from pipeline.custom_fields import CustomFieldRefused, CustomFieldsInvalid
from pipeline.exceptions import MoveRefused
from pipeline.models import CustomField, DealChange, DealField, FieldType, Transition
from tests.api.conftest import client_for
from tests.factories import DealFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def define(kind="deal", key="term", field_type=FieldType.TEXT, actor=None, **extra):
    return custom_fields.custom_field_create(
        actor=actor, record_kind=kind, key=key, name=extra.pop("name", key.replace("_", " ").title()),
        field_type=field_type, **extra,
    )


# --- Each type: good values stored as JSON's own types, bad ones refused with a message --------------

GOOD = [
    (FieldType.TEXT, "  Gold ", "Gold"),
    (FieldType.LONG_TEXT, "line one\r\nline two", "line one\nline two"),
    (FieldType.NUMBER, "12.5", 12.5),
    (FieldType.NUMBER, 7, 7),
    (FieldType.MONEY, "1234.567", 1234.57),
    (FieldType.DATE, "2026-12-31", "2026-12-31"),
    (FieldType.DATE, date(2027, 1, 2), "2027-01-02"),
    (FieldType.BOOLEAN, "ja", True),
    (FieldType.BOOLEAN, False, False),
    (FieldType.CHOICE, "Gold", "Gold"),
    (FieldType.MULTI_CHOICE, ["Silver", "Gold", "Gold"], ["Gold", "Silver"]),
    (FieldType.MULTI_CHOICE, "Silver; Gold", ["Gold", "Silver"]),
    (FieldType.URL, "https://example.com/a", "https://example.com/a"),
    (FieldType.EMAIL, "a@example.com", "a@example.com"),
    (FieldType.PHONE, "+49 (30) 1234-5", "+49 (30) 1234-5"),
]
BAD = [
    (FieldType.TEXT, "x" * 201),
    (FieldType.NUMBER, "twelve"),
    (FieldType.NUMBER, True),
    (FieldType.MONEY, "1e20"),
    (FieldType.DATE, "31.02.2026"),
    (FieldType.BOOLEAN, "maybe"),
    (FieldType.CHOICE, "Platinum"),
    (FieldType.MULTI_CHOICE, ["Gold", "Platinum"]),
    (FieldType.USER, 999999),
    (FieldType.URL, "not a url"),
    (FieldType.EMAIL, "nobody"),
    (FieldType.PHONE, "call me"),
]


def _definition(field_type):
    choices = ["Gold", "Silver"] if field_type in (FieldType.CHOICE, FieldType.MULTI_CHOICE) else []
    return define(key="f_" + field_type, field_type=field_type, choices=choices)


@pytest.mark.parametrize("field_type,raw,stored", GOOD)
def test_each_type_stores_its_values_as_json(field_type, raw, stored):
    definition = _definition(field_type)
    assert custom_fields.values_clean(kind="deal", values={definition.key: raw}) == {definition.key: stored}


@pytest.mark.parametrize("field_type,raw", BAD)
def test_each_type_refuses_bad_values_with_a_message(field_type, raw):
    definition = _definition(field_type)
    with pytest.raises(CustomFieldsInvalid) as refused:
        custom_fields.values_clean(kind="deal", values={definition.key: raw})
    assert refused.value.errors[definition.key]


def test_a_user_field_takes_an_active_users_id_or_username(rep):
    definition = _definition(FieldType.USER)
    assert custom_fields.values_clean(kind="deal", values={definition.key: rep.pk}) == {definition.key: rep.pk}
    assert custom_fields.values_clean(kind="deal", values={definition.key: "rita"}) == {definition.key: rep.pk}
    rep.is_active = False
    rep.save()
    with pytest.raises(CustomFieldsInvalid):
        custom_fields.values_clean(kind="deal", values={definition.key: rep.pk})


def test_unknown_keys_and_inactive_fields_are_refused():
    define(key="old", is_active=False)
    with pytest.raises(CustomFieldsInvalid) as refused:
        custom_fields.values_clean(kind="deal", values={"nope": "x", "old": "y"})
    assert set(refused.value.errors) == {"nope", "old"}


def test_an_empty_value_clears_the_field_and_others_stay():
    define(key="a")
    define(key="b")
    assert custom_fields.values_clean(kind="deal", values={"a": ""}, current={"a": "1", "b": "2"}) == {"b": "2"}


def test_a_required_field_is_required_of_new_records_and_cannot_be_emptied():
    define(key="segment", required=True)
    with pytest.raises(CustomFieldsInvalid):
        custom_fields.values_clean(kind="deal", values={}, creating=True)
    with pytest.raises(CustomFieldsInvalid):
        custom_fields.values_clean(kind="deal", values={"segment": ""}, current={"segment": "A"})
    # An edit that does not touch it is fine, even for a record from before the field was required.
    assert custom_fields.values_clean(kind="deal", values={}, current={}) == {}


# --- Definitions ------------------------------------------------------------------------------------


def test_key_kind_and_type_cannot_change_but_the_label_can(admin_user):
    field = define(key="term", actor=admin_user)
    for change in ({"key": "other"}, {"field_type": FieldType.NUMBER}, {"record_kind": "person"}):
        with pytest.raises(CustomFieldRefused):
            custom_fields.custom_field_update(field=field, actor=admin_user, **change)
    custom_fields.custom_field_update(field=field, actor=admin_user, name="Contract term")
    assert CustomField.objects.get(pk=field.pk).name == "Contract term"
    assert ConfigChange.objects.filter(object_id=str(field.pk)).count() == 2  # created, renamed


@pytest.mark.parametrize("key", ["", "1abc", "Has-Dash", "x" * 51])
def test_bad_keys_are_refused(key):
    with pytest.raises(CustomFieldRefused):
        define(key=key)


def test_duplicate_keys_per_kind_are_refused_but_other_kinds_may_reuse_them():
    define(key="tier")
    with pytest.raises(CustomFieldRefused):
        define(key="tier")
    define(kind="person", key="tier")


def test_choice_fields_need_choices_and_keep_the_ones_in_use(rep, stages):
    with pytest.raises(CustomFieldRefused):
        define(key="tier", field_type=FieldType.CHOICE, choices=[])
    field = define(key="tier", field_type=FieldType.CHOICE, choices="Gold\nSilver\n")
    assert field.choices == ["Gold", "Silver"]
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"tier": "Gold"})
    with pytest.raises(CustomFieldRefused):
        custom_fields.custom_field_update(field=field, actor=None, choices=["Silver"])
    custom_fields.custom_field_update(field=field, actor=None, choices=["Gold", "Silver", "Bronze"])


def test_cards_show_at_most_three_deal_fields():
    for n in range(3):
        define(key=f"c{n}", on_cards=True)
    with pytest.raises(CustomFieldRefused):
        define(key="c3", on_cards=True)
    with pytest.raises(CustomFieldRefused):
        define(kind="person", key="p", on_cards=True)
    assert [f.key for f in custom_fields.card_definitions()] == ["c0", "c1", "c2"]


def test_a_field_an_entry_rule_needs_cannot_be_deleted(stages, admin_user):
    field = define(key="po_number")
    Transition.objects.filter(to_stage=stages["Negotiation"]).update(requires_fields=["po_number"])
    with pytest.raises(CustomFieldRefused):
        custom_fields.custom_field_delete(field=field, actor=admin_user)
    Transition.objects.filter(to_stage=stages["Negotiation"]).update(requires_fields=[])
    custom_fields.custom_field_delete(field=field, actor=admin_user)
    assert not CustomField.objects.filter(pk=field.pk).exists()


# --- Deals: the service, history and entry rules ----------------------------------------------------------


def test_changing_a_deal_field_records_key_label_old_and_new(rep, stages):
    define(key="term", name="Contract term", field_type=FieldType.NUMBER)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"term": "12"})
    services.deal_update(deal=deal, actor=rep, custom={"term": "24"})
    deal.refresh_from_db()
    assert deal.custom == {"term": 24}
    rows = list(DealChange.objects.filter(deal=deal, field=DealField.CUSTOM).order_by("pk"))
    assert [(r.field_key, r.field_label, r.old_value, r.new_value) for r in rows] == [
        ("term", "Contract term", "", "12"), ("term", "Contract term", "12", "24"),
    ]
    # The same value again changes nothing and writes no history.
    services.deal_update(deal=deal, actor=rep, custom={"term": 24})
    assert DealChange.objects.filter(deal=deal, field=DealField.CUSTOM).count() == 2


def test_history_stays_readable_after_the_field_is_renamed_and_removed(client, rep, stages, admin_user):
    field = define(key="term", name="Contract term")
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"term": "two years"})
    custom_fields.custom_field_update(field=field, actor=admin_user, name="Laufzeit")
    custom_fields.custom_field_delete(field=field, actor=admin_user)
    client.force_login(rep)
    page = client.get(deal.get_absolute_url()).content.decode()
    assert "Contract term" in page and "two years" in page


def test_a_bad_value_changes_nothing(rep, stages):
    define(key="term", field_type=FieldType.NUMBER)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    with pytest.raises(CustomFieldsInvalid):
        services.deal_update(deal=deal, actor=rep, custom={"term": "soon"}, title="Changed")
    deal.refresh_from_db()
    assert deal.custom == {} and deal.title != "Changed"


def test_moving_into_a_stage_that_needs_a_field_is_refused_until_it_has_a_value(rep, stages, admin_user):
    define(key="po_number", name="PO number")
    transition = Transition.objects.get(from_stage=None, to_stage=stages["Negotiation"])
    configuration.transition_update(transition=transition, actor=admin_user, requires_fields=["po_number"])
    deal = DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100"), expected_close=date(2026, 12, 1),
                       next_step="Call")
    with pytest.raises(MoveRefused) as refused:
        services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    assert "PO number" in str(refused.value.message)
    services.deal_update(deal=deal, actor=rep, custom={"po_number": "4711"})
    deal = services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    assert deal.stage == stages["Negotiation"]
    # Once in the stage, the field cannot be emptied.
    with pytest.raises(MoveRefused):
        services.deal_update(deal=deal, actor=rep, custom={"po_number": ""})


def test_an_entry_rule_names_only_existing_deal_fields(stages, admin_user):
    transition = Transition.objects.filter(to_stage=stages["Negotiation"]).first()
    with pytest.raises(configuration.ConfigurationRefused):
        configuration.transition_update(transition=transition, actor=admin_user, requires_fields=["missing"])


# --- Forms and pages ------------------------------------------------------------------------------------


def test_the_deal_form_saves_every_type_and_the_page_shows_it(client, rep, stages):
    for field_type in FieldType.values:
        _definition(field_type)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    data = {
        "title": deal.title, "organization": deal.organization.name, "amount": "", "currency": "EUR", "owner": rep.pk,
        "forecast_category": "pipeline", "version": deal.version,
        "cf_f_text": "Gold", "cf_f_long_text": "a\nb", "cf_f_number": "3.5", "cf_f_money": "1000",
        "cf_f_date": "2026-05-01", "cf_f_boolean": "true", "cf_f_choice": "Silver", "cf_f_multi_choice": ["Gold"],
        "cf_f_user": rep.pk, "cf_f_url": "https://example.com", "cf_f_email": "x@example.com", "cf_f_phone": "030 123",
    }
    response = client.post(deal.get_absolute_url(), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    deal.refresh_from_db()
    assert deal.custom == {
        "f_text": "Gold", "f_long_text": "a\nb", "f_number": 3.5, "f_money": 1000, "f_date": "2026-05-01",
        "f_boolean": True, "f_choice": "Silver", "f_multi_choice": ["Gold"], "f_user": rep.pk,
        "f_url": "https://example.com", "f_email": "x@example.com", "f_phone": "030 123",
    }
    page = client.get(deal.get_absolute_url()).content.decode()
    assert "F Money" in page and "1,000.00 EUR" in page and 'href="mailto:x@example.com"' in page


def test_the_deal_form_shows_a_refused_value_next_to_its_field(client, rep, stages):
    define(key="segment", required=True)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    response = client.post(deal.get_absolute_url(), {
        "title": deal.title, "organization": deal.organization.name, "currency": "EUR", "owner": rep.pk,
        "forecast_category": "pipeline", "version": deal.version, "cf_segment": "",
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "“Segment” needs a value." in page and 'id="error_1_id_cf_segment"' in page
    deal.refresh_from_db()
    assert deal.custom == {}


def test_organisation_and_person_forms_save_their_fields(client, rep):
    define(kind="organization", key="vat_id", name="VAT ID")
    define(kind="person", key="birthday", field_type=FieldType.DATE)
    client.force_login(rep)
    response = client.post(reverse("pipeline:organization_create"), {
        "name": "Acme", "source": "other", "owner": rep.pk, "cf_vat_id": "DE123",
    })
    assert response.status_code == 302
    organization = rep.organizations.get(name="Acme")
    assert organization.custom == {"vat_id": "DE123"}
    assert "DE123" in client.get(organization.get_absolute_url()).content.decode()
    audit = ConfigChange.objects.filter(object_id=str(organization.pk), content_type__model="organization").first()
    assert audit.changes["VAT ID [vat_id]"] == [None, "DE123"]


def test_erasing_a_person_erases_their_custom_values(rep, admin_user):
    from pipeline import people, privacy

    define(kind="person", key="hobby")
    person = people.person_create(actor=rep, name="Erin", custom={"hobby": "sailing"}, owner=rep)
    assert privacy.person_data(person)["person"]["custom_fields"] == {"hobby": "sailing"}
    privacy.person_erase(person=person, actor=admin_user)
    person.refresh_from_db()
    assert person.erased_at is not None and person.custom == {}


# --- API ----------------------------------------------------------------------------------------


def test_the_api_reads_and_writes_deal_fields_and_reports_bad_ones_by_key(rep, stages):
    define(key="term", field_type=FieldType.NUMBER)
    organization = OrganizationFactory(owner=rep)
    api = client_for(rep)
    created = api.post("/api/v1/deals/", {"title": "API", "organization": organization.pk, "custom_fields": {"term": 12}},
                       format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["custom_fields"] == {"term": 12}
    deal_id, version = created.json()["id"], created.json()["version"]
    refused = api.patch(f"/api/v1/deals/{deal_id}/", {"version": version, "custom_fields": {"term": "soon"}}, format="json")
    assert refused.status_code == 400
    assert refused.json()["custom_fields"]["term"]
    cleared = api.patch(f"/api/v1/deals/{deal_id}/", {"version": version, "custom_fields": {"term": None}}, format="json")
    assert cleared.status_code == 200 and cleared.json()["custom_fields"] == {}
    assert api.patch(f"/api/v1/deals/{deal_id}/", {"version": version + 1, "custom_fields": "x"}, format="json").status_code == 400


def test_the_api_writes_organisation_person_and_activity_fields(rep):
    define(kind="organization", key="vat_id")
    define(kind="person", key="vip", field_type=FieldType.BOOLEAN)
    define(kind="activity", key="outcome", field_type=FieldType.CHOICE, choices=["reached", "voicemail"])
    api = client_for(rep)
    organization = api.post("/api/v1/organizations/", {"name": "Acme", "custom_fields": {"vat_id": "DE1"}}, format="json")
    assert organization.status_code == 201 and organization.json()["custom_fields"] == {"vat_id": "DE1"}
    person = api.post("/api/v1/people/", {"name": "Pat", "organization": organization.json()["id"],
                                          "custom_fields": {"vip": "yes"}}, format="json")
    assert person.status_code == 201 and person.json()["custom_fields"] == {"vip": True}
    activity = api.post("/api/v1/activities/", {"title": "Call", "due_at": "2026-06-01T10:00:00Z",
                                                "organization": organization.json()["id"],
                                                "custom_fields": {"outcome": "reached"}}, format="json")
    assert activity.status_code == 201 and activity.json()["custom_fields"] == {"outcome": "reached"}
    bad = api.patch(f"/api/v1/activities/{activity.json()['id']}/", {"custom_fields": {"outcome": "gone"}}, format="json")
    assert bad.status_code == 400 and "outcome" in bad.json()["custom_fields"]


def test_the_schema_describes_each_defined_field(rep):
    define(key="term", name="Contract term", field_type=FieldType.NUMBER, required=True)
    define(key="tier", field_type=FieldType.CHOICE, choices=["Gold", "Silver"])
    define(kind="person", key="birthday", field_type=FieldType.DATE)
    schema = client_for(rep).get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    deal = components["Deal"]["properties"]["custom_fields"]
    assert deal["properties"]["term"]["type"] == "number" and deal["properties"]["term"]["title"] == "Contract term"
    assert deal["properties"]["tier"]["enum"] == ["Gold", "Silver"]
    assert components["Person"]["properties"]["custom_fields"]["properties"]["birthday"]["format"] == "date"


def test_webhook_payloads_carry_the_deal_fields(rep, stages):
    from api.webhooks import deal_payload

    define(key="term")
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    deal = services.deal_update(deal=deal, actor=rep, custom={"term": "x"})
    assert deal_payload(deal)["custom_fields"] == {"term": "x"}


# --- Import and export ---------------------------------------------------------------------------


def test_the_export_has_a_column_per_field_that_imports_again(client, rep, stages):
    define(key="term", name="Contract term", field_type=FieldType.MONEY)
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    services.deal_update(deal=deal, actor=rep, custom={"term": "99.5"})
    client.force_login(rep)
    text = b"".join(client.get(reverse("exports:board_csv")).streaming_content).decode().lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["Contract term [term]"] == "99.50"


def test_the_activity_form_saves_activity_fields_and_refuses_bad_ones(client, rep, stages):
    from activities.models import Activity

    define(kind="activity", key="outcome", field_type=FieldType.CHOICE, choices=["reached", "voicemail"])
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    client.force_login(rep)
    url = reverse("activities:create", args=[deal.pk])
    client.post(url, {"kind": "call", "title": "Call", "due_at": "2026-06-01T10:00", "owner": rep.pk, "cf_outcome": "reached"})
    assert Activity.objects.get(title="Call").custom == {"outcome": "reached"}
    client.post(url, {"kind": "call", "title": "Bad", "due_at": "2026-06-01T10:00", "owner": rep.pk, "cf_outcome": "gone"})
    assert not Activity.objects.filter(title="Bad").exists()
    assert "cf_outcome" in client.get(deal.get_absolute_url()).content.decode()
