"""A lead becomes an organisation: the same table rows and ids under a new name, so that every
deal, activity, note, offer and audit row that points at a lead points at its organisation."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pipeline", "0009_name_translations"),
        ("accounts", "0004_user_language"),
        # Migrations of other apps that name the old model must run before it is renamed.
        ("activities", "0003_name_translations"),
    ]

    operations = [
        migrations.RenameModel("Lead", "Organization"),
        migrations.RenameField("deal", "lead", "organization"),
        migrations.RenameIndex("organization", new_name="organization_fit_score_idx", old_name="lead_fit_score_idx"),
    ]
