"""Concurrent moves on PostgreSQL: every request succeeds or is refused as a conflict, no update
is lost, the history holds exactly one StageChange per successful move, and the column totals
computed by the database stay right."""
import threading
from decimal import Decimal

import pytest
from django.db import connections

from pipeline import services
from pipeline.exceptions import VersionConflict
from pipeline.models import Deal, DealField, DealStatus, StageChange
from pipeline.selectors import column_totals
from tests.factories import DealFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

THREADS = 12


def run_at_once(jobs):
    """Run the callables in threads released together; return each one's result or exception."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            outcomes[index] = job()
        except Exception as error:  # collected and asserted on by the test
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a move hung"
    return outcomes


def moves_of(deal):
    """StageChange rows written by moves (the first row records the deal's creation)."""
    return StageChange.objects.filter(deal=deal, from_stage__isnull=False).order_by("at", "pk")


def test_same_deal_same_version_exactly_one_move_wins(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    targets = [stages[name] for name in ("Qualification", "Meeting & demo", "Offer", "Negotiation")]
    jobs = [
        (lambda to=targets[i % len(targets)]: services.deal_move(deal=deal.pk, to_stage=to, actor=rep, expected_version=1))
        for i in range(THREADS)
    ]
    outcomes = run_at_once(jobs)

    winners = [o for o in outcomes if isinstance(o, Deal)]
    conflicts = [o for o in outcomes if isinstance(o, VersionConflict)]
    assert len(winners) == 1, outcomes
    assert len(conflicts) == THREADS - 1, outcomes
    deal.refresh_from_db()
    assert deal.version == 2
    assert deal.stage_id == winners[0].stage_id
    assert [(c.from_stage_id, c.to_stage_id) for c in moves_of(deal)] == [(stages["Prospecting"].pk, deal.stage_id)]
    # The conflict carries the winner's state, for the board to show.
    assert all(c.deal.version == 2 and c.deal.stage_id == deal.stage_id for c in conflicts)


def test_moves_without_version_are_serialised_and_none_is_lost(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"])
    names = ["Qualification", "Meeting & demo", "Offer", "Negotiation", "Prospecting"]
    jobs = [
        (lambda to=stages[names[i % len(names)]]: services.deal_move(deal=deal.pk, to_stage=to, actor=rep))
        for i in range(THREADS)
    ]
    outcomes = run_at_once(jobs)

    assert all(isinstance(o, Deal) for o in outcomes), outcomes
    deal.refresh_from_db()
    history = list(moves_of(deal))
    # Each move that changed the stage bumped the version once and wrote one row...
    assert deal.version == 1 + len(history)
    assert len(history) >= 1
    # ...and the rows form one chain: every move started where the previous one ended.
    chain = [stages["Prospecting"].pk] + [c.to_stage_id for c in history]
    assert [c.from_stage_id for c in history] == chain[:-1]
    assert deal.stage_id == chain[-1]


def test_one_rep_moving_many_deals_at_once_loses_nothing_and_totals_stay_right(rep, stages):
    amounts = [Decimal("100.00") * (i + 1) for i in range(THREADS)]
    deals = [DealFactory(owner=rep, stage=stages["Prospecting"], amount=a) for a in amounts]
    plan = {deal.pk: stages[("Qualification", "Offer", "Negotiation")[i % 3]] for i, deal in enumerate(deals)}
    jobs = [
        (lambda d=deal: services.deal_move(deal=d.pk, to_stage=plan[d.pk], actor=rep, expected_version=1))
        for deal in deals
    ]
    outcomes = run_at_once(jobs)

    assert all(isinstance(o, Deal) for o in outcomes), outcomes
    for deal in deals:
        deal.refresh_from_db()
        assert (deal.stage_id, deal.version) == (plan[deal.pk].pk, 2)
        assert moves_of(deal).count() == 1
    expected = {}
    for deal in deals:
        stage = plan[deal.pk]
        count, total, weighted = expected.get(stage.pk, (0, Decimal(0), Decimal(0)))
        expected[stage.pk] = (count + 1, total + deal.amount, weighted + deal.amount * stage.probability / 100)
    totals = column_totals(Deal.objects.filter(pipeline=deals[0].pipeline, status=DealStatus.OPEN))
    actual = {
        stage_id: (rows[0].count, rows[0].total, rows[0].weighted) for stage_id, rows in totals.items()
    }
    assert actual == {k: (c, t, w.quantize(Decimal("0.01"))) for k, (c, t, w) in expected.items()}
    assert stages["Prospecting"].pk not in actual


def test_concurrent_moves_and_edits_of_one_deal_keep_both(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("1000.00"))
    jobs = []
    for i in range(THREADS // 2):
        jobs.append(lambda: services.deal_move(deal=deal.pk, to_stage=stages["Meeting & demo"], actor=rep))
        jobs.append(lambda n=i: services.deal_update(deal=deal.pk, actor=rep, next_step=f"call #{n}"))
    outcomes = run_at_once(jobs)

    assert all(isinstance(o, Deal) for o in outcomes), outcomes
    deal.refresh_from_db()
    assert deal.stage_id == stages["Meeting & demo"].pk
    assert deal.next_step.startswith("call #")
    assert moves_of(deal).count() == 1, "the same move repeated is one move"
    edits = list(deal.changes.filter(field=DealField.NEXT_STEP).order_by("at", "pk"))
    assert len(edits) == THREADS // 2, "every edit is kept"
    # The edits form one chain too: each one saw the value the previous one wrote.
    assert [e.old_value for e in edits] == [""] + [e.new_value for e in edits[:-1]]
    assert deal.next_step == edits[-1].new_value
    assert deal.version == 1 + 1 + len(edits)
