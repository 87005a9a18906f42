"""OpenStageTotal and the triggers that keep it: the open deals per stage, owner and currency,
added and subtracted by the database in the transaction of every write to a deal."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


COLUMNS = "stage_id, owner_id, currency, deals, priced, amount, amount_at_stage_probability, weighted_own"
UPSERT_SET = """
    deals = {t}deals + excluded.deals, priced = {t}priced + excluded.priced, amount = {t}amount + excluded.amount,
    amount_at_stage_probability = {t}amount_at_stage_probability + excluded.amount_at_stage_probability,
    weighted_own = {t}weighted_own + excluded.weighted_own"""
# What actually changes the totals: an update that touches none of these columns fires nothing.
COUNTED = ("status", "stage_id", "owner_id", "currency", "amount", "probability")
CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED)
CHANGED_SQLITE = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED)

RECOUNT = f"""
INSERT INTO pipeline_openstagetotal ({COLUMNS})
SELECT stage_id, owner_id, currency, COUNT(*), COUNT(amount), COALESCE(SUM(amount), 0),
       COALESCE(SUM(CASE WHEN probability IS NULL THEN amount END), 0),
       COALESCE(SUM(amount * probability * 0.01), 0)
FROM pipeline_deal WHERE status = 'open' GROUP BY stage_id, owner_id, currency
"""

POSTGRESQL = f"""
CREATE FUNCTION pipeline_open_stage_total_add(
    p_stage bigint, p_owner bigint, p_currency varchar, p_sign integer, p_amount numeric, p_probability integer
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_sign < 0 THEN
        -- Only what was added can be taken away: a missing row (emptied by hand) stays missing.
        UPDATE pipeline_openstagetotal SET
            deals = deals - 1,
            priced = priced - CASE WHEN p_amount IS NULL THEN 0 ELSE 1 END,
            amount = amount - COALESCE(p_amount, 0),
            amount_at_stage_probability = amount_at_stage_probability
                - CASE WHEN p_probability IS NULL THEN COALESCE(p_amount, 0) ELSE 0 END,
            weighted_own = weighted_own
                - CASE WHEN p_probability IS NULL THEN 0 ELSE COALESCE(p_amount, 0) * p_probability * 0.01 END
        WHERE stage_id = p_stage AND owner_id = p_owner AND currency = p_currency;
        -- No row for what holds no deal: an empty stage or a person who left keeps none behind.
        DELETE FROM pipeline_openstagetotal
        WHERE stage_id = p_stage AND owner_id = p_owner AND currency = p_currency AND deals = 0;
    ELSE
        INSERT INTO pipeline_openstagetotal AS t ({COLUMNS})
        VALUES (
            p_stage, p_owner, p_currency, 1,
            CASE WHEN p_amount IS NULL THEN 0 ELSE 1 END,
            COALESCE(p_amount, 0),
            CASE WHEN p_probability IS NULL THEN COALESCE(p_amount, 0) ELSE 0 END,
            CASE WHEN p_probability IS NULL THEN 0 ELSE COALESCE(p_amount, 0) * p_probability * 0.01 END
        )
        ON CONFLICT (stage_id, owner_id, currency) DO UPDATE SET {UPSERT_SET.format(t="t.")};
    END IF;
END $$;

CREATE FUNCTION pipeline_deal_open_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := false;
    is_open boolean := false;
BEGIN
    IF TG_OP <> 'INSERT' THEN was_open := OLD.status = 'open'; END IF;
    IF TG_OP <> 'DELETE' THEN is_open := NEW.status = 'open'; END IF;
    -- Two rows change in the order of their keys, so that two moves in opposite directions wait
    -- for each other instead of deadlocking.
    IF was_open AND is_open
       AND (NEW.stage_id, NEW.owner_id, NEW.currency) < (OLD.stage_id, OLD.owner_id, OLD.currency) THEN
        PERFORM pipeline_open_stage_total_add(NEW.stage_id, NEW.owner_id, NEW.currency, 1, NEW.amount, NEW.probability);
        PERFORM pipeline_open_stage_total_add(OLD.stage_id, OLD.owner_id, OLD.currency, -1, OLD.amount, OLD.probability);
    ELSE
        IF was_open THEN
            PERFORM pipeline_open_stage_total_add(OLD.stage_id, OLD.owner_id, OLD.currency, -1, OLD.amount, OLD.probability);
        END IF;
        IF is_open THEN
            PERFORM pipeline_open_stage_total_add(NEW.stage_id, NEW.owner_id, NEW.currency, 1, NEW.amount, NEW.probability);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER pipeline_deal_open_totals_insert AFTER INSERT ON pipeline_deal
    FOR EACH ROW WHEN (NEW.status = 'open') EXECUTE FUNCTION pipeline_deal_open_totals();
CREATE TRIGGER pipeline_deal_open_totals_delete AFTER DELETE ON pipeline_deal
    FOR EACH ROW WHEN (OLD.status = 'open') EXECUTE FUNCTION pipeline_deal_open_totals();
CREATE TRIGGER pipeline_deal_open_totals_update AFTER UPDATE ON pipeline_deal
    FOR EACH ROW WHEN ((OLD.status = 'open' OR NEW.status = 'open') AND ({CHANGED}))
    EXECUTE FUNCTION pipeline_deal_open_totals();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS pipeline_deal_open_totals_insert ON pipeline_deal;
DROP TRIGGER IF EXISTS pipeline_deal_open_totals_delete ON pipeline_deal;
DROP TRIGGER IF EXISTS pipeline_deal_open_totals_update ON pipeline_deal;
DROP FUNCTION IF EXISTS pipeline_deal_open_totals();
DROP FUNCTION IF EXISTS pipeline_open_stage_total_add(bigint, bigint, varchar, integer, numeric, integer);
"""


def _sqlite_add(row: str) -> str:
    """Add `row` (NEW) to its totals, when it is an open deal."""
    return f"""
    INSERT INTO pipeline_openstagetotal ({COLUMNS})
    SELECT {row}.stage_id, {row}.owner_id, {row}.currency, 1,
           CASE WHEN {row}.amount IS NULL THEN 0 ELSE 1 END,
           COALESCE({row}.amount, 0),
           CASE WHEN {row}.probability IS NULL THEN COALESCE({row}.amount, 0) ELSE 0 END,
           CASE WHEN {row}.probability IS NULL THEN 0 ELSE COALESCE({row}.amount, 0) * {row}.probability * 0.01 END
    WHERE {row}.status = 'open'
    ON CONFLICT (stage_id, owner_id, currency) DO UPDATE SET {UPSERT_SET.format(t="")};"""


def _sqlite_subtract(row: str) -> str:
    """Take `row` (OLD) away from its totals, when it was an open deal. Only what was added can be
    taken away: a missing row (a test database's flush empties the totals first) stays missing."""
    return f"""
    UPDATE pipeline_openstagetotal SET
        deals = deals - 1,
        priced = priced - CASE WHEN {row}.amount IS NULL THEN 0 ELSE 1 END,
        amount = amount - COALESCE({row}.amount, 0),
        amount_at_stage_probability = amount_at_stage_probability
            - CASE WHEN {row}.probability IS NULL THEN COALESCE({row}.amount, 0) ELSE 0 END,
        weighted_own = weighted_own
            - CASE WHEN {row}.probability IS NULL THEN 0 ELSE COALESCE({row}.amount, 0) * {row}.probability * 0.01 END
    WHERE {row}.status = 'open'
      AND stage_id = {row}.stage_id AND owner_id = {row}.owner_id AND currency = {row}.currency;
    DELETE FROM pipeline_openstagetotal
    WHERE {row}.status = 'open'
      AND stage_id = {row}.stage_id AND owner_id = {row}.owner_id AND currency = {row}.currency AND deals = 0;"""


SQLITE = [
    f"CREATE TRIGGER pipeline_deal_open_totals_insert AFTER INSERT ON pipeline_deal BEGIN {_sqlite_add('NEW')} END",
    f"CREATE TRIGGER pipeline_deal_open_totals_delete AFTER DELETE ON pipeline_deal BEGIN {_sqlite_subtract('OLD')} END",
    f"CREATE TRIGGER pipeline_deal_open_totals_update AFTER UPDATE ON pipeline_deal WHEN {CHANGED_SQLITE} "
    f"BEGIN {_sqlite_subtract('OLD')} {_sqlite_add('NEW')} END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS pipeline_deal_open_totals_insert",
    "DROP TRIGGER IF EXISTS pipeline_deal_open_totals_delete",
    "DROP TRIGGER IF EXISTS pipeline_deal_open_totals_update",
]


def triggers_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)
    else:
        raise NotImplementedError(f"OpenStageTotal needs its triggers written for {vendor}")
    schema_editor.execute(RECOUNT)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)
    else:
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('pipeline', '0015_match_keys_of_existing_records'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='OpenStageTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3, verbose_name='currency')),
                ('deals', models.IntegerField(default=0, verbose_name='deals')),
                ('priced', models.IntegerField(default=0, verbose_name='deals with an amount')),
                ('amount', models.DecimalField(decimal_places=2, default=0, max_digits=20, verbose_name='amount')),
                ('amount_at_stage_probability', models.DecimalField(decimal_places=2, default=0, max_digits=20, verbose_name="amount weighted by the stage's probability")),
                ('weighted_own', models.DecimalField(decimal_places=4, default=0, max_digits=24, verbose_name='weighted amount of deals with their own probability')),
            ],
            options={
                'verbose_name': 'open stage total',
                'verbose_name_plural': 'open stage totals',
            },
        ),
        migrations.AddIndex(
            model_name='deal',
            index=models.Index(fields=['pipeline', 'status', 'closed_at'], name='deal_closed_idx'),
        ),
        migrations.AddField(
            model_name='openstagetotal',
            name='owner',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='owner'),
        ),
        migrations.AddField(
            model_name='openstagetotal',
            name='stage',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='pipeline.stage', verbose_name='stage'),
        ),
        migrations.AddConstraint(
            model_name='openstagetotal',
            constraint=models.UniqueConstraint(fields=('stage', 'owner', 'currency'), name='openstagetotal_unique'),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
