"""Create the default pipeline with its six stages, transitions and lost reasons."""
from django.conf import settings
from django.db import migrations
from django.utils import translation


def create_defaults(apps, schema_editor):
    from pipeline.defaults import DEFAULT_ENTRY_RULES, DEFAULT_LOST_REASONS, DEFAULT_PIPELINE, DEFAULT_STAGES

    Pipeline = apps.get_model("pipeline", "Pipeline")
    Stage = apps.get_model("pipeline", "Stage")
    Transition = apps.get_model("pipeline", "Transition")
    LostReason = apps.get_model("pipeline", "LostReason")
    if Pipeline.objects.exists():
        return
    with translation.override(settings.LANGUAGE_CODE):
        _ = translation.gettext
        pipeline = Pipeline.objects.create(name=_(DEFAULT_PIPELINE), position=0, is_default=True)
        for position, (name, probability, kind, rotting, colour, guidance) in enumerate(DEFAULT_STAGES):
            stage = Stage.objects.create(
                pipeline=pipeline, name=_(name), position=position, probability=probability, kind=kind,
                rotting_days=rotting, colour=colour, guidance=_(guidance),
            )
            # Any forward or backward move is allowed; some stages need data to be entered.
            Transition.objects.create(pipeline=pipeline, from_stage=None, to_stage=stage, **DEFAULT_ENTRY_RULES.get(name, {}))
        for position, name in enumerate(DEFAULT_LOST_REASONS):
            LostReason.objects.create(name=_(name), position=position)


class Migration(migrations.Migration):
    dependencies = [("pipeline", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
