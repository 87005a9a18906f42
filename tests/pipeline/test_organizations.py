"""pipeline.leads: the one writer of leads records who created and changed what."""
import pytest
from django.db import transaction

from accounts.models import ConfigChange
from pipeline.organizations import organization_create, organization_update, organizations_bulk_import
from pipeline.models import Organization, Person

pytestmark = pytest.mark.django_db


def test_creating_and_changing_an_organization_is_audited_with_the_fields_that_changed(rep):
    organization = organization_create(actor=rep, name="  Muster GmbH ", industry="Software", owner=rep)
    organization_update(organization=organization, actor=rep, industry="Software")  # nothing changes: no row
    organization_update(organization=organization, actor=rep, country="AT", contact_name="Erika")
    created, changed = ConfigChange.objects.filter(content_type__model="organization").order_by("pk")
    assert (created.action, created.object_id, created.actor) == ("create", str(organization.pk), rep)
    assert created.changes["name"] == [None, "Muster GmbH"] and "fit_explanation" not in created.changes
    assert changed.action == "update" and changed.changes == {"main_contact": [None, "Erika"], "country": ["", "AT"]}
    # The contact is a person at the organisation, audited as such.
    person = Person.objects.get()
    assert (person.name, person.organization, person.owner) == ("Erika", organization, rep)
    assert ConfigChange.objects.filter(content_type__model="person", object_id=str(person.pk), action="create").exists()


def test_an_organization_written_in_a_transaction_that_rolls_back_leaves_no_audit_row(rep):
    with pytest.raises(RuntimeError), transaction.atomic():
        organization_create(actor=rep, name="Gone AG")
        raise RuntimeError
    assert not Organization.objects.filter(name="Gone AG").exists() and not ConfigChange.objects.exists()


def test_a_bulk_import_audits_every_organization_it_creates(rep):
    created = organizations_bulk_import(organizations=[Organization(name="A"), Organization(name="B")], actor=rep)
    rows = ConfigChange.objects.filter(content_type__model="organization", action="create")
    assert sorted(rows.values_list("object_id", flat=True)) == sorted(str(organization.pk) for organization in created)
    assert {row.actor for row in rows} == {rep}


def test_an_organization_needs_a_name(rep):
    from pipeline.exceptions import PipelineError

    with pytest.raises(PipelineError) as refused:
        organization_create(actor=rep, name="  ")
    assert refused.value.message == "Name the company."
