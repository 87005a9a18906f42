"""factory_boy factories for Stageflow's models."""
from decimal import Decimal

import factory
from django.apps import apps as django_apps
from django.utils import timezone

from accounts.models import Role, Team, User
from pipeline.defaults import defaults_install
from pipeline.models import Deal, Organization, LostReason, Pipeline, Stage, StageChange


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    role = Role.REP
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()
            # As accounts.services.user_set_role does: the user belongs to their role's group.
            from django.contrib.auth.models import Group

            group = Group.objects.filter(name=obj.role).first()
            if group is not None:
                obj.groups.add(group)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Faker("company")
    industry = "Software"
    country = "DE"
    contact_name = factory.Faker("name")
    contact_email = factory.Faker("email")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from pipeline.organizations import organization_create

        # scored, and its contact a person at it, as every organisation Stageflow writes
        return organization_create(actor=None, **kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        for name in ("contact_name", "contact_email", "contact_phone"):  # the main contact's: not built
            kwargs.pop(name, None)
        return model_class(*args, **kwargs)


def default_pipeline() -> Pipeline:
    """The default pipeline that migration 0002 creates; created again when a transactional test
    emptied the database before this test (tests pass in any order)."""
    pipeline = Pipeline.objects.filter(is_default=True).first()
    if pipeline is None:
        defaults_install(django_apps)
        pipeline = Pipeline.objects.get(is_default=True)
    return pipeline


def stage_named(name: str, pipeline: Pipeline | None = None) -> Stage:
    return (pipeline or default_pipeline()).stages.get(name=name)


class DealFactory(factory.django.DjangoModelFactory):
    """A deal placed directly (bypassing the services) with its first StageChange row."""

    class Meta:
        model = Deal
        skip_postgeneration_save = True

    stage = factory.LazyFunction(lambda: default_pipeline().stages.order_by("position").first())
    pipeline = factory.LazyAttribute(lambda o: o.stage.pipeline)
    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Deal {n}")
    amount = Decimal("1000.00")
    currency = "EUR"
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def history(obj, create, extracted, **kwargs):
        if create:
            StageChange.objects.create(
                deal=obj, from_stage=None, to_stage=obj.stage, from_status="", to_status=obj.status,
                actor=obj.owner, at=obj.created_at,
            )


def lost_reason() -> LostReason:
    return LostReason.objects.order_by("position").first()
