"""PostgreSQL: the pg_trgm extension and GIN trigram indexes on what "Find anything" searches, so
that a name, e-mail, phone or domain anywhere in 100,000 people is found without reading them all
(bench/search.py measures it). Other databases get nothing here: they search by LIKE.

The indexes are on UPPER(column), the expression Django's icontains/istartswith compare on
PostgreSQL, so that the same index serves those lookups and the trigram word-similarity operator
(pg_trgm ignores case); phone digits have no case and are indexed as they are. They are not
declared on the models: a GIN index with an operator class would make pipeline's migrations
PostgreSQL-only, and search owns the reason they exist.

pg_trgm declares its word-similarity operator (%>) as cheap as comparing two numbers, so with a
few thousand rows PostgreSQL compared every name rather than use the index: 27 ms instead of 0.1
for 3,000 people. The operator is told what it costs (about a hundred times that); where the
database user may not change the extension (a managed server), that is left out and the search
still works. (pg_dump leaves it out too: run `migrate search zero` and `migrate` after a restore.)
"""
import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

# (index name, model, indexed expression)
INDEXES = (
    ("search_person_name_trgm", "Person", 'UPPER("name")'),
    ("search_personemail_address_trgm", "PersonEmail", 'UPPER("address")'),
    ("search_personphone_digits_trgm", "PersonPhone", '"digits"'),
    ("search_organization_name_trgm", "Organization", 'UPPER("name")'),
    ("search_organization_domains_trgm", "Organization", 'UPPER("domains")'),
    ("search_deal_title_trgm", "Deal", 'UPPER("title")'),
)


def indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, model, expression in INDEXES:
        table = schema_editor.quote_name(apps.get_model("pipeline", model)._meta.db_table)
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)")
    _operator_cost(schema_editor, OPERATOR_COST)


# What the word-similarity operator costs (PostgreSQL's unit: comparing two numbers), and pg_trgm's own.
OPERATOR_COST, PG_TRGM_COST = 100, 1


def _operator_cost(schema_editor, cost: int) -> None:
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute(f"ALTER FUNCTION word_similarity_commutator_op(text, text) COST {cost}")
    except DatabaseError as error:
        logger.warning("search: the cost of pg_trgm's %%> operator was left as it is (%s)", error)


def indexes_drop(apps, schema_editor):
    """The extension stays: something else may use it."""
    if schema_editor.connection.vendor != "postgresql":
        return
    _operator_cost(schema_editor, PG_TRGM_COST)
    for name, _model, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0013_remove_lead_contact_fields")]

    # Not django.contrib.postgres's TrigramExtension: unapplying it asks pg_extension on any database.
    operations = [migrations.RunPython(indexes_create, indexes_drop, elidable=False)]
