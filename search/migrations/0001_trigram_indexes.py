"""PostgreSQL: the pg_trgm extension and GIN trigram indexes on what "Find anything" searches, so
that a name, e-mail, phone or domain anywhere in 100,000 people is found without reading them all
(bench/search.py measures it). Other databases get nothing here: they search by LIKE.

The indexes are on UPPER(column), the expression Django's icontains/istartswith compare on
PostgreSQL, so that the same index serves those lookups and the trigram word-similarity operator
(pg_trgm ignores case); phone digits have no case and are indexed as they are. They are not
declared on the models: a GIN index with an operator class would make pipeline's migrations
PostgreSQL-only, and search owns the reason they exist.
"""
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

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
    for name, model, expression in INDEXES:
        table = schema_editor.quote_name(apps.get_model("pipeline", model)._meta.db_table)
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)")


def indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _model, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0013_remove_lead_contact_fields")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(indexes_create, indexes_drop, elidable=False),
    ]
