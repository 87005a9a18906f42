"""Bulk changes of deals: each deal through the single-deal services, every refusal reported with
its reason, undo as a batch while unchanged, the worker above the threshold."""
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from activities.models import Activity
from lists import bulk
from lists.models import BulkChange, BulkStatus
from pipeline import custom_fields, services
from pipeline.models import Deal, DealStatus, FieldType, StageChange
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def organization(rep):
    return OrganizationFactory(owner=rep)


def _deal(rep, stage, organization, **extra):
    return DealFactory(owner=rep, stage=stage, organization=organization, **extra)


def test_moving_reports_each_refused_deal_with_its_reason_and_moves_the_rest(rep, stages, organization):
    ready = _deal(rep, stages["Offer"], organization, title="Ready", amount=Decimal("100"))
    no_amount = _deal(rep, stages["Offer"], organization, title="No amount", amount=None)
    foreign = DealFactory(title="Someone else's", stage=stages["Offer"])
    change = bulk.bulk_change_start(actor=rep, action="move", data={"stage": stages["Negotiation"].pk},
                                    deal_ids=[ready.pk, no_amount.pk, foreign.pk])
    assert change.status == BulkStatus.DONE
    assert Deal.objects.get(pk=ready.pk).stage == stages["Negotiation"]
    assert StageChange.objects.filter(deal=ready, to_stage=stages["Negotiation"], actor=rep).exists()
    refused = {r["id"]: r["message"] for r in change.refused}
    assert set(refused) == {no_amount.pk, foreign.pk}
    assert "amount" in refused[no_amount.pk]
    assert Deal.objects.get(pk=no_amount.pk).stage == stages["Offer"]


def test_undo_changes_back_what_is_unchanged_since_and_says_what_is_not(rep, stages, organization):
    first = _deal(rep, stages["Prospecting"], organization, title="First")
    second = _deal(rep, stages["Prospecting"], organization, title="Second")
    change = bulk.bulk_change_start(actor=rep, action="move", data={"stage": stages["Qualification"].pk},
                                    deal_ids=[first.pk, second.pk])
    services.deal_update(deal=second, actor=rep, next_step="Call again")  # changed since
    not_undone = bulk.bulk_change_undo(change=change, actor=rep)
    assert Deal.objects.get(pk=first.pk).stage == stages["Prospecting"]
    assert Deal.objects.get(pk=second.pk).stage == stages["Qualification"]
    assert [r["id"] for r in not_undone] == [second.pk]
    change.refresh_from_db()
    assert change.status == BulkStatus.UNDONE
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_undo(change=change, actor=rep)


def test_only_the_maker_undoes_a_bulk_change(rep, manager, stages, organization):
    deal = _deal(rep, stages["Prospecting"], organization)
    change = bulk.bulk_change_start(actor=rep, action="move", data={"stage": stages["Qualification"].pk}, deal_ids=[deal.pk])
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_undo(change=change, actor=manager)


def test_reassigning_follows_the_rules_of_the_teams(rep, manager, stages, organization):
    teammate = UserFactory(username="tom", role="rep", team=rep.team)
    deal = _deal(rep, stages["Prospecting"], organization)
    with pytest.raises(bulk.BulkRefused):  # a rep gives deals to nobody but themselves
        bulk.bulk_change_start(actor=rep, action="reassign", data={"owner": teammate.pk}, deal_ids=[deal.pk])
    south = DealFactory(title="South deal", owner=UserFactory(username="sue", team=TeamFactory(name="South")),
                        stage=stages["Prospecting"])
    change = bulk.bulk_change_start(actor=manager, action="reassign", data={"owner": teammate.pk},
                                    deal_ids=[deal.pk, south.pk])
    assert Deal.objects.get(pk=deal.pk).owner == teammate
    assert [r["id"] for r in change.refused] == [south.pk]
    bulk.bulk_change_undo(change=change, actor=manager)
    assert Deal.objects.get(pk=deal.pk).owner == rep


def test_marking_lost_needs_a_reason_and_undo_reopens(rep, stages, organization):
    deal = _deal(rep, stages["Offer"], organization)
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_start(actor=rep, action="lose", data={}, deal_ids=[deal.pk])
    change = bulk.bulk_change_start(actor=rep, action="lose", data={"reason": lost_reason().pk, "note": "Budget"},
                                    deal_ids=[deal.pk])
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.lost_note == "Budget"
    bulk.bulk_change_undo(change=change, actor=rep)
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.OPEN


def test_setting_a_custom_field_checks_the_value_and_undo_restores_the_old_one(rep, stages, organization):
    custom_fields.custom_field_create(actor=None, record_kind="deal", key="seats", name="Seats", field_type=FieldType.NUMBER)
    deal = _deal(rep, stages["Prospecting"], organization)
    services.deal_update(deal=deal, actor=rep, custom={"seats": 5})
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_start(actor=rep, action="set_field", data={"field": "cf.seats", "value": "many"}, deal_ids=[deal.pk])
    change = bulk.bulk_change_start(actor=rep, action="set_field", data={"field": "cf.seats", "value": "12"},
                                    deal_ids=[deal.pk])
    assert Deal.objects.get(pk=deal.pk).custom == {"seats": 12}
    bulk.bulk_change_undo(change=change, actor=rep)
    assert Deal.objects.get(pk=deal.pk).custom == {"seats": 5}


def test_setting_a_deal_field_and_undoing_it(rep, stages, organization):
    deal = _deal(rep, stages["Prospecting"], organization, expected_close=date(2026, 6, 1))
    change = bulk.bulk_change_start(actor=rep, action="set_field", data={"field": "expected_close", "value": "2026-09-30"},
                                    deal_ids=[deal.pk])
    assert Deal.objects.get(pk=deal.pk).expected_close == date(2026, 9, 30)
    bulk.bulk_change_undo(change=change, actor=rep)
    assert Deal.objects.get(pk=deal.pk).expected_close == date(2026, 6, 1)


def test_adding_an_activity_to_each_deal_and_taking_them_back(rep, stages, organization):
    deals = [_deal(rep, stages["Prospecting"], organization) for _ in range(2)]
    change = bulk.bulk_change_start(actor=rep, action="add_activity",
                                    data={"title": "Follow up", "due": "2026-07-01", "kind": "call"},
                                    deal_ids=[d.pk for d in deals])
    assert Activity.objects.filter(title="Follow up", deal__in=deals).count() == 2
    bulk.bulk_change_undo(change=change, actor=rep)
    assert not Activity.objects.filter(title="Follow up").exists()


def test_only_admins_delete_deals(rep, admin_user, stages, organization):
    deal = _deal(rep, stages["Prospecting"], organization)
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_start(actor=rep, action="delete", data={}, deal_ids=[deal.pk])
    change = bulk.bulk_change_start(actor=admin_user, action="delete", data={}, deal_ids=[deal.pk])
    assert not Deal.objects.filter(pk=deal.pk).exists() and change.status == BulkStatus.DONE
    with pytest.raises(bulk.BulkRefused):
        bulk.bulk_change_undo(change=change, actor=admin_user)


def test_above_the_threshold_the_worker_runs_it_with_progress(rep, stages, organization, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    from lists import tasks

    monkeypatch.setattr(bulk, "BULK_SYNC_LIMIT", 2)
    monkeypatch.setattr(bulk, "PROGRESS_EVERY", 2)
    ran = []
    monkeypatch.setattr(tasks.bulk_change_task, "delay", lambda pk: ran.append(pk))
    deals = [_deal(rep, stages["Prospecting"], organization) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        change = bulk.bulk_change_start(actor=rep, action="move", data={"stage": stages["Qualification"].pk},
                                        deal_ids=[d.pk for d in deals])
    assert ran == [change.pk] and BulkChange.objects.get(pk=change.pk).status == BulkStatus.QUEUED
    assert tasks.bulk_change_task(change.pk) == BulkStatus.DONE
    change.refresh_from_db()
    assert change.done == 5 and len(change.changed) == 5
    assert tasks.bulk_change_task(change.pk) == BulkStatus.DONE  # twice is harmless
    assert StageChange.objects.filter(to_stage=stages["Qualification"]).count() == 5


def test_all_matching_deals_of_a_filtered_list_from_the_page(client, rep, stages, organization):
    big = _deal(rep, stages["Prospecting"], organization, title="Big", amount=Decimal("5000"))
    small = _deal(rep, stages["Prospecting"], organization, title="Small", amount=Decimal("5"))
    client.force_login(rep)
    response = client.post(reverse("lists:bulk_start", args=["deals"]), {
        "all": "1", "amount__gte": "1000", "status": "open", "bulk_action": "move", "bulk_stage": stages["Qualification"].pk,
    })
    change = BulkChange.objects.get()
    assert response["Location"] == reverse("lists:bulk_status", args=[change.pk])
    assert Deal.objects.get(pk=big.pk).stage == stages["Qualification"]
    assert Deal.objects.get(pk=small.pk).stage == stages["Prospecting"]
    page = client.get(response["Location"]).content.decode()
    assert "1 changed" in page
    client.force_login(UserFactory(username="other", role="rep", team=rep.team))
    assert client.get(response["Location"]).status_code == 404


def test_the_ticked_deals_from_the_page_and_a_refusal_of_the_whole(client, rep, stages, organization):
    deal = _deal(rep, stages["Prospecting"], organization)
    client.force_login(rep)
    response = client.post(reverse("lists:bulk_start", args=["deals"]), {"ids": [deal.pk], "bulk_action": "move", "bulk_stage": ""})
    assert response.status_code == 302 and not BulkChange.objects.exists()
    client.post(reverse("lists:bulk_start", args=["deals"]), {"ids": [deal.pk], "bulk_action": "lose",
                                                               "bulk_reason": lost_reason().pk})
    assert Deal.objects.get(pk=deal.pk).status == DealStatus.LOST
