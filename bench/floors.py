"""Hand-written SQL that returns the same numbers as a page or writes the same rows as a
service: the floor each measurement is compared with, timed in the same run.

A floor must be honest, not flattering: it reads everything the page shows (for the board: the
pipelines, the owner filter's people, the stages and allowed moves, the lost reasons, the column
totals, and every card with its customer mark, next activity and onboarding progress) under the
same visibility rules and won-deal window, and it does so the way a careful person would write it
by hand (rank the narrow deal rows first, then join what the winners show).
"""
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

_OPEN_OR_RECENTLY_WON = (
    " (d.status = 'open' OR (d.status = 'won' AND d.retention_done_at IS NULL"
    " AND (d.closed_at >= %s OR d.closed_at IS NULL)))"
)


def _visibility(user) -> tuple[str, list]:
    """The deals `user` sees (pipeline.selectors.visible_deals), as a condition on d and u."""
    if user is None or user.is_admin:
        return "", []
    if user.is_manager:
        where = " AND (d.owner_id = %s OR u.team_id IN (SELECT t.id FROM accounts_team t WHERE t.manager_id = %s)"
        params = [user.pk, user.pk]
        if user.team_id:
            where += " OR u.team_id = %s"
            params.append(user.team_id)
        return where + ")", params
    if settings.STAGEFLOW.get("REPS_SEE_TEAM_DEALS") and user.team_id:
        return " AND (d.owner_id = %s OR u.team_id = %s)", [user.pk, user.team_id]
    return " AND d.owner_id = %s", [user.pk]


def _people(user) -> tuple[str, list]:
    """The owner filter's choices (pipeline.selectors.visible_users), as a condition on u."""
    where, params = _visibility(user)
    return where.replace("d.owner_id", "u.id"), params


# What a card shows besides the deal's own columns: the customer mark, the next open activity
# (one lookup, joined) and the onboarding progress.
_CARD_COLUMNS = (
    "d.id, d.stage_id, d.title, d.amount, d.currency, d.expected_close, d.stage_entered_at, d.next_step,"
    " d.version, d.status, d.rotting_snoozed_until, l.name, u.username, u.first_name, u.last_name,"
    " EXISTS (SELECT 1 FROM pipeline_deal w WHERE w.organization_id = d.organization_id AND w.status = 'won'),"
    " a.title, a.due_at, a.kind,"
    " (SELECT COUNT(*) FROM activities_onboardingtask t WHERE t.deal_id = d.id),"
    " (SELECT COUNT(*) FROM activities_onboardingtask t WHERE t.deal_id = d.id AND t.done_at IS NOT NULL)"
)
_CARD_JOINS = (
    " JOIN pipeline_organization l ON l.id = d.organization_id JOIN accounts_user u ON u.id = d.owner_id"
    " LEFT JOIN activities_activity a ON a.id = (SELECT n.id FROM activities_activity n"
    " WHERE n.deal_id = d.id AND n.done_at IS NULL ORDER BY n.due_at, n.id LIMIT 1)"
)


def _won_since():
    return timezone.now() - timedelta(days=settings.STAGEFLOW["WON_DEALS_ON_BOARD_DAYS"])


def board(*, user) -> dict:
    """Everything the board page shows: the page's chrome (pipelines, owner choices, stages,
    allowed moves, lost reasons), the column totals per stage and currency, and the first page
    of cards of each column with what each card shows."""
    where, params = _visibility(user)
    people_where, people_params = _people(user)
    pipeline_id = _default_pipeline_id()
    page = settings.STAGEFLOW["BOARD_PAGE_SIZE"]
    won_since = _won_since()
    owner_join = " JOIN accounts_user u ON u.id = d.owner_id" if where else ""
    totals_sql = (
        "SELECT d.stage_id, d.currency, COUNT(*), COALESCE(SUM(d.amount), 0),"
        " COALESCE(SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0), 0)"
        " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id" + owner_join +
        " WHERE d.pipeline_id = %s AND" + _OPEN_OR_RECENTLY_WON + where + " GROUP BY d.stage_id, d.currency"
    )
    cards_sql = (
        "WITH ranked AS (SELECT d.id AS id,"
        " ROW_NUMBER() OVER (PARTITION BY d.stage_id ORDER BY d.stage_entered_at DESC, d.id DESC) AS rn"
        " FROM pipeline_deal d" + owner_join + " WHERE d.pipeline_id = %s AND" + _OPEN_OR_RECENTLY_WON + where + ")"
        " SELECT " + _CARD_COLUMNS + " FROM ranked r JOIN pipeline_deal d ON d.id = r.id" + _CARD_JOINS +
        " WHERE r.rn <= %s"
    )
    result = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, name, is_default FROM pipeline_pipeline WHERE is_active ORDER BY position, id")
        result["pipelines"] = cursor.fetchall()
        cursor.execute(
            "SELECT u.id, u.username, u.first_name, u.last_name FROM accounts_user u WHERE u.is_active" + people_where
            + " ORDER BY u.first_name, u.last_name, u.username",
            people_params,
        )
        result["people"] = cursor.fetchall()
        cursor.execute(
            "SELECT id, name, position, probability, kind, rotting_days, colour FROM pipeline_stage"
            " WHERE pipeline_id = %s ORDER BY position, id",
            [pipeline_id],
        )
        result["stages"] = cursor.fetchall()
        cursor.execute("SELECT from_stage_id, to_stage_id FROM pipeline_transition WHERE pipeline_id = %s", [pipeline_id])
        result["moves"] = cursor.fetchall()
        cursor.execute("SELECT id, name FROM pipeline_lostreason WHERE is_active ORDER BY position, id")
        result["lost_reasons"] = cursor.fetchall()
        cursor.execute(totals_sql, [pipeline_id, won_since, *params])
        result["totals"] = cursor.fetchall()
        cursor.execute(cards_sql, [pipeline_id, won_since, *params, page])
        result["cards"] = cursor.fetchall()
    return result


_actors: dict = {}


def _actor(actor_id: int):
    if actor_id not in _actors:
        from accounts.models import User

        _actors[actor_id] = User.objects.get(pk=actor_id)
    return _actors[actor_id]


def _write_move(cursor, *, deal_id, from_stage_id, to_stage_id, version, actor_id, now) -> None:
    """A move's writes after its read, inside its transaction: the transition row that allows
    it, the history row, the deal's new stage and version."""
    cursor.execute(
        "SELECT requires_amount, requires_expected_close, requires_contact, requires_next_step, min_fit_score"
        " FROM pipeline_transition WHERE to_stage_id = %s AND (from_stage_id = %s OR from_stage_id IS NULL)"
        " ORDER BY from_stage_id IS NULL LIMIT 1",
        [to_stage_id, from_stage_id],
    )
    cursor.fetchone()
    cursor.execute(
        "INSERT INTO pipeline_stagechange (deal_id, from_stage_id, to_stage_id, from_status, to_status, actor_id,"
        " actor_label, at) VALUES (%s, %s, %s, 'open', 'open', %s, '', %s)",
        [deal_id, from_stage_id, to_stage_id, actor_id, now],
    )
    cursor.execute(
        "UPDATE pipeline_deal SET stage_id = %s, version = version + 1, stage_entered_at = %s, updated_at = %s"
        " WHERE id = %s AND version = %s",
        [to_stage_id, now, now, deal_id, version],
    )


def move(*, deal_id: int, to_stage_id: int, actor_id: int) -> dict:
    """What the move answers with, by hand: read the deal as its card shows it together with the
    target stage of its pipeline (and lock it), check the version and the transition table, update,
    append history, see whether a webhook wants the event, and total the two columns again."""
    user = _actor(actor_id)
    where, params = _visibility(user)
    postgres = connection.vendor == "postgresql"
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute("SELECT id FROM pipeline_deal WHERE id = %s FOR UPDATE", [deal_id])
        cursor.execute(
            "SELECT " + _CARD_COLUMNS + ", d.pipeline_id, d.organization_id, d.owner_id, ts.id, ts.name, ts.kind"
            " FROM pipeline_deal d" + _CARD_JOINS +
            " JOIN pipeline_stage ts ON ts.pipeline_id = d.pipeline_id AND ts.id = %s WHERE d.id = %s",
            [to_stage_id, deal_id],
        )
        row = cursor.fetchone()
        from_stage_id, version = row[1], row[8]
        _write_move(cursor, deal_id=deal_id, from_stage_id=from_stage_id, to_stage_id=to_stage_id, version=version,
                    actor_id=actor_id, now=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, on_moved FROM api_webhookendpoint WHERE is_active")
        cursor.fetchall()
        cursor.execute(
            "SELECT d.stage_id, d.currency, COUNT(*), COALESCE(SUM(d.amount), 0),"
            " COALESCE(SUM(COALESCE(d.amount, 0) * COALESCE(d.probability, s.probability) / 100.0), 0)"
            " FROM pipeline_deal d JOIN pipeline_stage s ON s.id = d.stage_id JOIN accounts_user u ON u.id = d.owner_id"
            " WHERE d.pipeline_id = %s AND d.stage_id IN (%s, %s) AND" + _OPEN_OR_RECENTLY_WON + where
            + " GROUP BY d.stage_id, d.currency",
            [row[21], from_stage_id, to_stage_id, _won_since(), *params],
        )
        totals = cursor.fetchall()
    return {"card": row, "totals": totals}


def api_move(*, deal_id: int, to_stage_id: int, actor_id: int) -> tuple:
    """What the API's move answers with, by hand: lock the deal and read it with what its JSON
    shows (stage, lead and owner names) and the target stage of its pipeline, check the version
    and the transition table, update, append history and see whether a webhook wants the event.
    No column totals: the API's answer is the deal alone."""
    user = _actor(actor_id)
    where, params = _visibility(user)
    postgres = connection.vendor == "postgresql"
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute("SELECT id FROM pipeline_deal WHERE id = %s FOR UPDATE", [deal_id])
        cursor.execute(
            "SELECT d.id, d.title, d.pipeline_id, d.stage_id, d.status, d.organization_id, l.name, d.owner_id, u.username,"
            " u.first_name, u.last_name, d.amount, d.currency, d.expected_close, d.probability, s.probability,"
            " d.next_step, d.forecast_category, d.lost_reason_id, d.lost_note, d.stage_entered_at, d.closed_at,"
            " d.created_at, d.updated_at, d.external_id, d.version, ts.id, ts.name, ts.kind, ts.probability"
            " FROM pipeline_deal d JOIN pipeline_organization l ON l.id = d.organization_id JOIN accounts_user u ON u.id = d.owner_id"
            " JOIN pipeline_stage s ON s.id = d.stage_id"
            " JOIN pipeline_stage ts ON ts.pipeline_id = d.pipeline_id AND ts.id = %s WHERE d.id = %s" + where,
            [to_stage_id, deal_id, *params],
        )
        row = cursor.fetchone()
        from_stage_id, version = row[3], row[25]
        _write_move(cursor, deal_id=deal_id, from_stage_id=from_stage_id, to_stage_id=to_stage_id, version=version,
                    actor_id=actor_id, now=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, on_moved FROM api_webhookendpoint WHERE is_active")
        cursor.fetchall()
    return row


_pipeline_id = None


def _default_pipeline_id() -> int:
    global _pipeline_id
    if _pipeline_id is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM pipeline_pipeline WHERE is_default")
            _pipeline_id = cursor.fetchone()[0]
    return _pipeline_id
