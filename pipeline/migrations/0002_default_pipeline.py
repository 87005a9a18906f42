"""Create the default pipeline with its six stages, transitions and lost reasons."""
from django.db import migrations


def create_defaults(apps, schema_editor):
    from pipeline.defaults import defaults_install

    defaults_install(apps)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
