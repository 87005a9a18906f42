"""The indexes the board's queries rely on exist, match the queries, and the migrations are complete.

Why each index is there (with the PostgreSQL plans before and after): bench/results/plans.md."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from pipeline import selectors
from pipeline.models import Deal
from tests.services import postgres_missing_reason

pytestmark = pytest.mark.django_db


def test_models_and_migrations_agree():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit:
        pytest.fail(f"makemigrations would write a migration (exit {exit.code}):\n{out.getvalue()}")


def test_board_rank_index_orders_columns_like_the_board():
    """pipeline, stage, then newest arrival first: the order of a column's cards."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Deal._meta.db_table)
    index = constraints["deal_board_rank_idx"]
    assert index["index"] and not index["unique"]
    assert index["columns"][:4] == ["pipeline_id", "stage_id", "stage_entered_at", "id"]
    assert index["orders"][:4] == ["ASC", "ASC", "DESC", "DESC"]
    # What the ranking filters on and joins with, so that PostgreSQL need not read the table.
    assert set(index["columns"][4:]) == {"status", "closed_at", "retention_done_at", "owner_id"}


@pytest.mark.integration
def test_board_rank_index_serves_a_column_page(admin_user, pipeline, stages):
    reason = postgres_missing_reason()
    if reason:
        pytest.skip(reason)
    # With an empty table the planner would scan it whatever the indexes; forbidding the
    # alternatives shows whether the index can answer the board's "load more" query at all.
    deals = selectors.board_deals(user=admin_user, pipeline=pipeline)
    column = selectors.card_queryset(deals.filter(stage=stages["Prospecting"]))[50:100]
    sql, params = column.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "deal_board_rank_idx" in plan, plan


@pytest.mark.parametrize("who", ["rep", "manager", "admin_user"])
def test_each_column_shows_its_newest_arrivals_first_page(request, who, rep, manager, stages):
    """board_cards picks each column's first page (on PostgreSQL one LIMITed index range per
    column): the same cards as sorting every visible deal of the stage, newest arrival first."""
    from datetime import timedelta
    from django.utils import timezone
    from tests.factories import DealFactory, UserFactory

    user = request.getfixturevalue(who)
    outsider = UserFactory(username="otto", role="rep")
    now = timezone.now()
    open_stages = [stages["Prospecting"], stages["Offer"], stages["Negotiation"]]
    for i in range(36):
        DealFactory(
            owner=(rep, manager, outsider)[(i // 3) % 3], stage=open_stages[i % 3],
            stage_entered_at=now - timedelta(hours=i % 7),  # ties: the higher id first
        )  # fmt: skip
    deals = selectors.board_deals(user=user, pipeline=stages["Offer"].pipeline)
    stage_ids = [s.pk for s in stages.values()]
    cards = selectors.board_cards(deals, per_column=4, stage_ids=stage_ids)
    for stage in open_stages:
        expected = list(
            deals.filter(stage=stage).order_by("-stage_entered_at", "-pk").values_list("pk", flat=True)[:4]
        )
        assert [card.pk for card in cards[stage.pk]] == expected
        assert len(expected) == 4


@pytest.mark.integration
def test_the_board_cards_read_one_limited_index_range_per_column(admin_user, pipeline, stages):
    reason = postgres_missing_reason()
    if reason:
        pytest.skip(reason)
    deals = selectors.board_deals(user=admin_user, pipeline=pipeline)
    stage_ids = [s.pk for s in stages.values()]
    firsts = [deals.filter(stage_id=pk).order_by("-stage_entered_at", "-pk").values("pk")[:25] for pk in stage_ids]
    sql, params = firsts[0].union(*firsts[1:], all=True).query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("Limit") == len(stage_ids), plan
    assert plan.count("deal_board_rank_idx") == len(stage_ids), plan
    assert "Sort" not in plan and "WindowAgg" not in plan, plan
