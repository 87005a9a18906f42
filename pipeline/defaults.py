"""The default sales process: six stages, their transitions and common lost reasons.

Names are marked for translation. Each is written in the installation's language
(settings.LANGUAGE_CODE) when the database is set up, with its name in every language Stageflow
speaks beside it (`name_translations`, see pipeline.names), so each person reads their own.
"""
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_noop

from .names import default_translations

DEFAULT_PIPELINE = gettext_noop("New business")

# name, probability, kind, rotting days, colour, guidance
DEFAULT_STAGES = [
    (gettext_noop("Prospecting"), 10, "open", 14, "#6f42c1",
     gettext_noop("A potential customer was found: referral, event, social selling or inbound content.")),
    (gettext_noop("Qualification"), 20, "open", 14, "#0d6efd",
     gettext_noop("Check the lead against the ideal customer profile; first contact through a free offer.")),
    (gettext_noop("Meeting & demo"), 40, "open", 21, "#0dcaf0",
     gettext_noop("Discover the needs in a conversation and show the product.")),
    (gettext_noop("Offer"), 60, "open", 21, "#fd7e14",
     gettext_noop("Send a proposal that states the customer's benefit, not only the price.")),
    (gettext_noop("Negotiation"), 80, "open", 30, "#ffc107",
     gettext_noop("Handle objections, packages and discounts; end with a signed deal.")),
    (gettext_noop("Retention"), 100, "won", None, "#198754",
     gettext_noop("The deal is won: onboarding, then upsell and referrals.")),
]

# Entry rules of the default transitions, by target stage name.
DEFAULT_ENTRY_RULES = {
    "Offer": {"requires_amount": True},
    "Negotiation": {"requires_amount": True},
    "Retention": {"requires_amount": True, "requires_expected_close": True},
}

DEFAULT_LOST_REASONS = [
    gettext_noop("Price too high"),
    gettext_noop("Lost to a competitor"),
    gettext_noop("No budget"),
    gettext_noop("No decision / went silent"),
    gettext_noop("Timing not right"),
    gettext_noop("Product does not fit"),
    gettext_noop("Not qualified"),
]


def _translated(model, english: str) -> dict:
    """The default's names per language, for a model that has them: migration 0002 installs the
    defaults with the models as they were before names per language existed (0009 adds them)."""
    if any(field.name == "name_translations" for field in model._meta.get_fields()):
        return {"name_translations": default_translations(english)}
    return {}


def defaults_install(apps) -> None:
    """Create the default pipeline, its stages, transitions and lost reasons, unless a pipeline
    exists. `apps` is the migration's app registry (or django.apps.apps): the database is set up
    by migration 0002, and a test database emptied by a transactional test is set up again here."""
    Pipeline = apps.get_model("pipeline", "Pipeline")
    Stage = apps.get_model("pipeline", "Stage")
    Transition = apps.get_model("pipeline", "Transition")
    LostReason = apps.get_model("pipeline", "LostReason")
    if Pipeline.objects.exists():
        return
    with translation.override(settings.LANGUAGE_CODE):
        _ = translation.gettext
        pipeline = Pipeline.objects.create(
            name=_(DEFAULT_PIPELINE), position=0, is_default=True, **_translated(Pipeline, DEFAULT_PIPELINE)
        )
        for position, (name, probability, kind, rotting, colour, guidance) in enumerate(DEFAULT_STAGES):
            stage = Stage.objects.create(
                pipeline=pipeline, name=_(name), position=position, probability=probability, kind=kind,
                rotting_days=rotting, colour=colour, guidance=_(guidance), **_translated(Stage, name),
            )
            # Any forward or backward move is allowed; some stages need data to be entered.
            Transition.objects.create(pipeline=pipeline, from_stage=None, to_stage=stage, **DEFAULT_ENTRY_RULES.get(name, {}))
        for position, name in enumerate(DEFAULT_LOST_REASONS):
            LostReason.objects.get_or_create(
                name=_(name), defaults={"position": position, **_translated(LostReason, name)}
            )


def default_translations_fill(apps) -> None:
    """Give the shipped default names, where they are still unchanged (in English or in the
    installation's language), their names in every language. Names an admin changed stay as
    they are: only the admin knows what they mean in another language."""
    defaults = {
        "pipeline.Pipeline": [DEFAULT_PIPELINE],
        "pipeline.Stage": [name for name, *_rest in DEFAULT_STAGES],
        "pipeline.LostReason": DEFAULT_LOST_REASONS,
    }
    for label, names in defaults.items():
        model = apps.get_model(label)
        for english in names:
            translations = default_translations(english)
            for row in model.objects.filter(name__in=set(translations.values()) | {english}, name_translations={}):
                row.name_translations = translations
                row.save(update_fields=["name_translations"])
