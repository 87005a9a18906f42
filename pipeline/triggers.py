"""The SQLite triggers that keep OpenStageTotal, restored after any migration that rebuilt the deal
table.

SQLite cannot alter most columns in place: Django's schema editor copies the table into a new one
and drops the old one, and a table's triggers go with it. PostgreSQL alters in place and keeps
them. So after every `migrate` (the post_migrate signal, connected in pipeline.apps) the triggers
are checked on SQLite; missing ones are created again from the statements of the migration that
first made them, and the totals are counted again from the deals, in case a migration wrote deals
while they were missing.
"""
import importlib

from django.db import connections

TRIGGERS = ("pipeline_deal_open_totals_insert", "pipeline_deal_open_totals_delete", "pipeline_deal_open_totals_update")


def _statements():
    return importlib.import_module("pipeline.migrations.0016_open_stage_totals")


def sqlite_triggers_missing(using: str = "default") -> set[str]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'pipeline_deal'")
        return set(TRIGGERS) - {row[0] for row in cursor.fetchall()}


def sqlite_triggers_restore(using: str = "default") -> bool:
    """Create the triggers again where a table rebuild dropped them, and recount the totals;
    True when anything was missing. Does nothing on other databases or before the totals exist."""
    connection = connections[using]
    if connection.vendor != "sqlite" or "pipeline_openstagetotal" not in connection.introspection.table_names():
        return False
    if not sqlite_triggers_missing(using):
        return False
    migration = _statements()
    with connection.cursor() as cursor:
        for statement in [*migration.SQLITE_DROP, *migration.SQLITE]:
            cursor.execute(statement)
        cursor.execute("DELETE FROM pipeline_openstagetotal")
        cursor.execute(migration.RECOUNT)
    return True


def restore_after_migrate(sender, using="default", **kwargs) -> None:
    sqlite_triggers_restore(using)
