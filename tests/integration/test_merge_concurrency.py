"""Concurrent merges on PostgreSQL: the rows are locked (FOR UPDATE) in primary-key order, so two
merges of one pair in opposite directions never deadlock: one wins, the other is refused with a
message, and nothing is lost; a deal moved while its organisation is merged keeps both changes."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline import merging, services
from pipeline.models import Deal, MergedRecord, Organization, Person
from pipeline.organizations import organization_create
from pipeline.people import person_create
from tests.factories import DealFactory
from tests.integration.test_concurrency import run_at_once

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROUNDS = 6


def test_the_merge_locks_both_rows_for_update_in_primary_key_order(rep):
    first = organization_create(actor=rep, name="Acme", owner=rep)
    second = organization_create(actor=rep, name="ACME AG", owner=rep)
    with CaptureQueriesContext(connection) as captured:
        merging.organizations_merge(survivor=second, merged=first, actor=rep)
    locking = next(q["sql"] for q in captured.captured_queries if "FOR UPDATE" in q["sql"])
    assert 'FROM "pipeline_organization"' in locking
    assert locking.index('ORDER BY "pipeline_organization"."id" ASC') < locking.index("FOR UPDATE")


def test_opposite_merges_of_one_pair_never_deadlock_one_wins_and_nothing_is_lost(rep, stages):
    for _round in range(ROUNDS):
        a = organization_create(actor=rep, name="Acme", owner=rep, contact_name="Anna", contact_email="anna@acme.de")
        b = organization_create(actor=rep, name="ACME GmbH", owner=rep, contact_name="Bernd", contact_email="b@acme.de")
        deals = [DealFactory(owner=rep, organization=o, stage=stages["Prospecting"]) for o in (a, b, b)]
        outcomes = run_at_once([
            lambda: merging.organizations_merge(survivor=a.pk, merged=b.pk, actor=rep),
            lambda: merging.organizations_merge(survivor=b.pk, merged=a.pk, actor=rep),
        ])
        won = [o for o in outcomes if isinstance(o, merging.MergeResult)]
        refused = [o for o in outcomes if isinstance(o, merging.MergeRefused)]
        assert len(won) == 1 and len(refused) == 1, outcomes
        assert refused[0].code == "gone"
        survivor = won[0].survivor
        assert Organization.objects.filter(pk__in=[a.pk, b.pk]).count() == 1
        assert set(Deal.objects.filter(pk__in=[d.pk for d in deals]).values_list("organization_id", flat=True)) == {survivor.pk}
        assert Person.objects.filter(organization=survivor).count() == 2
        assert MergedRecord.objects.filter(survivor_id=survivor.pk).count() == 1


def test_opposite_person_merges_never_deadlock(rep):
    for _round in range(ROUNDS):
        org = organization_create(actor=rep, name="Acme", owner=rep, contact_name="Anna", contact_email="anna@acme.de")
        anna = org.main_contact
        twin = person_create(actor=rep, name="Anna", organization=org, owner=rep, emails=["anna.s@acme.de"])
        outcomes = run_at_once([
            lambda: merging.people_merge(survivor=anna.pk, merged=twin.pk, actor=rep),
            lambda: merging.people_merge(survivor=twin.pk, merged=anna.pk, actor=rep),
        ])
        assert sorted(type(o).__name__ for o in outcomes) == ["MergeRefused", "MergeResult"], outcomes
        survivor = next(o for o in outcomes if isinstance(o, merging.MergeResult)).survivor
        assert Organization.objects.get(pk=org.pk).main_contact_id == survivor.pk
        assert sorted(survivor.emails.values_list("address", flat=True)) == ["anna.s@acme.de", "anna@acme.de"]


def test_a_deal_moved_while_its_organisation_is_merged_keeps_both_changes(rep, stages):
    for _round in range(ROUNDS):
        kept = organization_create(actor=rep, name="Acme", owner=rep)
        other = organization_create(actor=rep, name="Acme AG", owner=rep)
        deal = DealFactory(owner=rep, organization=other, stage=stages["Prospecting"])
        outcomes = run_at_once([
            lambda: merging.organizations_merge(survivor=kept.pk, merged=other.pk, actor=rep),
            lambda: services.deal_move(deal=deal.pk, to_stage=stages["Qualification"], actor=rep),
        ])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        deal.refresh_from_db()
        assert (deal.organization_id, deal.stage_id, deal.version) == (kept.pk, stages["Qualification"].pk, 3)
