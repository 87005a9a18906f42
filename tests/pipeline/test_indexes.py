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
