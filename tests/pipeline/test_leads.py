"""pipeline.leads: the one writer of leads records who created and changed what."""
import pytest
from django.db import transaction

from accounts.models import ConfigChange
from pipeline.leads import lead_create, lead_update, leads_bulk_import
from pipeline.models import Lead

pytestmark = pytest.mark.django_db


def test_creating_and_changing_a_lead_is_audited_with_the_fields_that_changed(rep):
    lead = lead_create(actor=rep, name="  Muster GmbH ", industry="Software", owner=rep)
    lead_update(lead=lead, actor=rep, industry="Software")  # nothing changes: no row
    lead_update(lead=lead, actor=rep, country="AT", contact_name="Erika")
    created, changed = ConfigChange.objects.filter(content_type__model="lead").order_by("pk")
    assert (created.action, created.object_id, created.actor) == ("create", str(lead.pk), rep)
    assert created.changes["name"] == [None, "Muster GmbH"] and "fit_explanation" not in created.changes
    assert changed.action == "update" and changed.changes == {"contact_name": ["", "Erika"], "country": ["", "AT"]}


def test_a_lead_written_in_a_transaction_that_rolls_back_leaves_no_audit_row(rep):
    with pytest.raises(RuntimeError), transaction.atomic():
        lead_create(actor=rep, name="Gone AG")
        raise RuntimeError
    assert not Lead.objects.filter(name="Gone AG").exists() and not ConfigChange.objects.exists()


def test_a_bulk_import_audits_every_lead_it_creates(rep):
    created = leads_bulk_import(leads=[Lead(name="A"), Lead(name="B")], actor=rep)
    rows = ConfigChange.objects.filter(content_type__model="lead", action="create")
    assert sorted(rows.values_list("object_id", flat=True)) == sorted(str(lead.pk) for lead in created)
    assert {row.actor for row in rows} == {rep}


def test_a_lead_needs_a_name(rep):
    from pipeline.exceptions import PipelineError

    with pytest.raises(PipelineError) as refused:
        lead_create(actor=rep, name="  ")
    assert refused.value.message == "Name the company."
