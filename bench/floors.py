"""Hand-written SQL that returns the same numbers as a page or writes the same rows as a
service: the floor each measurement is compared with, timed in the same run."""
from django.db import connection, transaction
from django.utils import timezone

PAGE = 50


def _visibility(user) -> tuple[str, list]:
    if user is None or user.is_admin:
        return "", []
    if user.is_manager:
        return " AND (d.owner_id = %s OR u.team_id = %s)", [user.pk, user.team_id]
    return " AND (d.owner_id = %s OR u.team_id = %s)", [user.pk, user.team_id]


def board(*, user) -> tuple[list, list]:
    """Column totals per stage and currency, and the first 50 cards of each column."""
    where, params = _visibility(user)
    pipeline_id = _default_pipeline_id()
    totals_sql = (
        "SELECT d.stage_id, d.currency, COUNT(*), COALESCE(SUM(d.amount), 0),"
        " COALESCE(SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0), 0)"
        " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id"
        " JOIN accounts_user u ON u.id = d.owner_id"
        " WHERE d.pipeline_id = %s AND d.status IN ('open', 'won')" + where + " GROUP BY d.stage_id, d.currency"
    )
    cards_sql = (
        "SELECT * FROM (SELECT d.id, d.title, d.amount, d.currency, d.expected_close, d.stage_entered_at,"
        " d.next_step, d.version, l.name, u.username, u.first_name, u.last_name,"
        " ROW_NUMBER() OVER (PARTITION BY d.stage_id ORDER BY d.stage_entered_at DESC, d.id DESC) AS rn"
        " FROM pipeline_deal d JOIN pipeline_lead l ON l.id = d.lead_id JOIN accounts_user u ON u.id = d.owner_id"
        " WHERE d.pipeline_id = %s AND d.status IN ('open', 'won')" + where + ") ranked WHERE rn <= %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(totals_sql, [pipeline_id, *params])
        totals = cursor.fetchall()
        cursor.execute(cards_sql, [pipeline_id, *params, PAGE])
        cards = cursor.fetchall()
    return totals, cards


def move(*, deal_id: int, to_stage_id: int, actor_id: int) -> None:
    """Lock, check the version and the transition, update, append history: nothing more."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT stage_id, version, stage_entered_at FROM pipeline_deal WHERE id = %s{lock}", [deal_id])
        from_stage_id, version, entered = cursor.fetchone()
        cursor.execute(
            "SELECT id FROM pipeline_transition WHERE to_stage_id = %s AND (from_stage_id = %s OR from_stage_id IS NULL)",
            [to_stage_id, from_stage_id],
        )
        cursor.fetchone()
        cursor.execute(
            "UPDATE pipeline_deal SET stage_id = %s, version = version + 1, stage_entered_at = %s, updated_at = %s"
            " WHERE id = %s AND version = %s",
            [to_stage_id, now, now, deal_id, version],
        )
        cursor.execute(
            "INSERT INTO pipeline_stagechange (deal_id, from_stage_id, to_stage_id, from_status, to_status, actor_id,"
            " actor_label, at) VALUES (%s, %s, %s, 'open', 'open', %s, '', %s)",
            [deal_id, from_stage_id, to_stage_id, actor_id, now],
        )


_pipeline_id = None


def _default_pipeline_id() -> int:
    global _pipeline_id
    if _pipeline_id is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM pipeline_pipeline WHERE is_default")
            _pipeline_id = cursor.fetchone()[0]
    return _pipeline_id
