from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0003_name_translations"),
        ("pipeline", "0010_lead_becomes_organization"),
    ]

    operations = [
        # The checks name the old field: SQLite rebuilds the table on a rename and would fail on them.
        migrations.RemoveConstraint(
            model_name='activity',
            name='activity_on_deal_or_lead',
        ),
        migrations.RemoveConstraint(
            model_name='note',
            name='note_on_deal_or_lead',
        ),
        migrations.RenameField("activity", "lead", "organization"),
        migrations.RenameField("note", "lead", "organization"),
    ]
