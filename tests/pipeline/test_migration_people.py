"""The migration that turns leads into organisations with their contacts as people, run on the
demo data: nothing of a lead is lost, and every record that pointed at a lead points at its
organisation, under the same id.

The demo data is written at today's schema, migrated back to the last schema with leads (whose
reverse puts each organisation's main contact back into the lead's contact fields), read there
as the old world, and migrated forward again."""
from datetime import datetime
from datetime import timezone as dt_timezone

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from activities.demo import seed_activities_demo
from pipeline.demo import seed_demo
from qualification.demo import demo_profile_create

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("pipeline", "0009_name_translations"), ("activities", "0003_name_translations"), ("imports", "0001_initial")]
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=dt_timezone.utc)


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _old_world(apps):
    Lead = apps.get_model("pipeline", "Lead")
    Deal = apps.get_model("pipeline", "Deal")
    Activity = apps.get_model("activities", "Activity")
    Note = apps.get_model("activities", "Note")
    DealChange = apps.get_model("pipeline", "DealChange")
    StageChange = apps.get_model("pipeline", "StageChange")
    return {
        "leads": {
            row[0]: row[1:] for row in Lead.objects.values_list(
                "pk", "name", "industry", "company_size", "country", "website", "source", "owner_id", "created_at",
                "fit_score", "fit_explanation", "contact_name", "contact_email", "contact_phone",
            )
        },
        "deals": dict(Deal.objects.values_list("pk", "lead_id")),
        "won": {lead for lead, status in Deal.objects.values_list("lead_id", "status") if status == "won"},
        "activities": dict(Activity.objects.values_list("pk", "lead_id")),
        "activity_deals": dict(Activity.objects.values_list("pk", "deal_id")),
        "notes": dict(Note.objects.values_list("pk", "lead_id")),
        "stage_changes": StageChange.objects.count(),
        "deal_changes": sorted(DealChange.objects.values_list("pk", "field", "old_value", "new_value")),
    }


def test_every_lead_becomes_an_organisation_with_its_contact_as_a_person_and_nothing_is_lost(django_db_blocker):
    demo_profile_create()
    seed_demo(deals=150, seed=7, now=NOW)
    seed_activities_demo(seed=7)
    try:
        old_apps = _migrate(BEFORE)
        old = _old_world(old_apps)
        assert len(old["leads"]) > 100 and all(lead[11] for lead in old["leads"].values())
        assert old["activities"] and old["notes"]

        apps = _migrate(_latest())
    finally:
        _migrate(_latest())

    Organization = apps.get_model("pipeline", "Organization")
    Person = apps.get_model("pipeline", "Person")
    Deal = apps.get_model("pipeline", "Deal")
    DealContact = apps.get_model("pipeline", "DealContact")
    Activity = apps.get_model("activities", "Activity")
    Note = apps.get_model("activities", "Note")
    DealChange = apps.get_model("pipeline", "DealChange")
    StageChange = apps.get_model("pipeline", "StageChange")
    ContactRole = apps.get_model("pipeline", "ContactRole")

    organizations = {
        row[0]: row[1:] for row in Organization.objects.values_list(
            "pk", "name", "industry", "company_size", "country", "website", "source", "owner_id", "created_at",
            "fit_score", "fit_explanation", "main_contact__name", "main_contact__email", "main_contact__phone",
        )
    }
    # The same ids, the same values; the contact fields are now the main contact's.
    assert organizations == old["leads"]
    for person in Person.objects.select_related("organization"):
        assert person.organization.main_contact_id == person.pk and person.owner_id == person.organization.owner_id
    assert Person.objects.count() == len(old["leads"])
    # Deals, activities and notes point at the same records.
    assert dict(Deal.objects.values_list("pk", "organization_id")) == old["deals"]
    assert dict(Activity.objects.values_list("pk", "organization_id")) == old["activities"]
    assert dict(Activity.objects.values_list("pk", "deal_id")) == old["activity_deals"]
    assert dict(Note.objects.values_list("pk", "organization_id")) == old["notes"]
    # Each deal has its organisation's contact on it.
    assert sorted(DealContact.objects.values_list("deal_id", "person__organization_id")) == sorted(old["deals"].items())
    # History is whole; the rows that named the lead name the organisation.
    assert StageChange.objects.count() == old["stage_changes"]
    assert sorted(DealChange.objects.values_list("pk", "field", "old_value", "new_value")) == [
        (pk, "organization" if field == "lead" else field, before, after) for pk, field, before, after in old["deal_changes"]
    ]
    # Customers since their first win; websites give a domain; the default roles exist in two languages.
    customers = set(Organization.objects.exclude(customer_since=None).values_list("pk", flat=True))
    assert customers == old["won"]
    assert all(org.domains and org.domains in org.website for org in Organization.objects.exclude(website=""))
    assert ContactRole.objects.filter(name="Decision maker", name_translations__de="Entscheider").exists()
