"""Admins configure the roles people play on deals, and entry rules that need one."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import ConfigChange
from pipeline.models import ContactRole, Transition
from pipeline.people import deal_contact_add, person_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, admin_user):
    client.force_login(admin_user)
    return client


def url(name, *args):
    return reverse(f"admin:pipeline_{name}", args=args)


def test_the_transitions_list_and_form_show_the_role_an_entry_rule_needs(client, pipeline, stages):
    decision_maker = ContactRole.objects.get(name="Decision maker")
    offer_rule = Transition.objects.get(pipeline=pipeline, to_stage=stages["Offer"], from_stage__isnull=True)
    page = client.get(url("transition_change", offer_rule.pk))
    assert "requires_role" in page.context["adminform"].form.fields and "min_fit_score" in page.context["adminform"].form.fields
    data = {"from_stage": "", "to_stage": stages["Offer"].pk, "requires_role": decision_maker.pk, "min_fit_score": "40"}
    assert client.post(url("transition_change", offer_rule.pk), data).status_code == 302
    offer_rule.refresh_from_db()
    assert offer_rule.requires_role == decision_maker and offer_rule.min_fit_score == 40
    change = ConfigChange.objects.filter(object_id=str(offer_rule.pk)).latest("pk")
    assert "requires_role" in change.changes  # written through pipeline.configuration, audited
    body = client.get(url("transition_changelist")).content.decode()
    assert ">Role needed<" in body.replace("</a>", "<") and ">Decision maker<" in body
    filtered = client.get(url("transition_changelist"), {"requires_role__id__exact": decision_maker.pk})
    assert list(filtered.context["cl"].result_list) == [offer_rule]


def test_the_pipeline_pages_transition_rows_offer_the_role(client, pipeline):
    response = client.get(url("pipeline_change", pipeline.pk))
    transitions = response.context["inline_admin_formsets"][1].formset
    assert "requires_role" in transitions.empty_form.fields


def test_admins_add_rename_and_deactivate_roles_through_the_configuration_service(client):
    assert client.post(url("contactrole_add"), {"name": "Legal", "name_translations": '{"de": "Rechtsabteilung"}',
                                                "position": "7", "is_active": "on"}).status_code == 302
    legal = ContactRole.objects.get(name="Legal")
    assert legal.name_translations == {"de": "Rechtsabteilung"}
    assert ConfigChange.objects.filter(object_id=str(legal.pk), action="create").exists()
    names = [r.name for r in client.get(url("contactrole_changelist")).context["cl"].result_list]
    assert names[:2] == ["Decision maker", "Champion"] and names[-1] == "Legal"
    data = {"name": "Legal counsel", "name_translations": "{}", "position": "7", "is_active": ""}
    assert client.post(url("contactrole_change", legal.pk), data).status_code == 302
    legal.refresh_from_db()
    assert (legal.name, legal.is_active) == ("Legal counsel", False)


def test_a_role_in_use_cannot_be_deleted(client, rep, deal):
    champion = ContactRole.objects.get(name="Champion")
    person = person_create(actor=rep, name="Jana Wolff", organization=deal.organization, owner=rep)
    deal_contact_add(deal=deal, person=person, role=champion, actor=rep)
    response = client.post(url("contactrole_delete", champion.pk), {"post": "yes"})
    assert response.status_code == 302
    assert "Mark it inactive instead" in [str(m) for m in get_messages(response.wsgi_request)][0]
    assert ContactRole.objects.filter(pk=champion.pk).exists()
    unused = ContactRole.objects.create(name="Unused", position=9)
    assert client.post(url("contactrole_delete", unused.pk), {"post": "yes"}).status_code == 302
    assert not ContactRole.objects.filter(pk=unused.pk).exists()
    assert ConfigChange.objects.filter(object_id=str(unused.pk), action="delete").exists()
