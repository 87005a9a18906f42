from datetime import date, timedelta

import pytest
from django.utils import timezone

from activities.models import OnboardingItem
from pipeline import services as pipeline_services
from tests.factories import DealFactory, TeamFactory, UserFactory


@pytest.fixture
def teammate(team):
    return UserFactory(username="sam", role="rep", team=team)


@pytest.fixture
def outsider(db):
    return UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def checklist(pipeline):
    return [
        OnboardingItem.objects.create(pipeline=pipeline, title=title, position=i)
        for i, title in enumerate(["Kick-off call", "Accounts created", "Training held"])
    ]


@pytest.fixture
def win(stages, django_capture_on_commit_callbacks):
    """win(deal, actor) moves a deal from Negotiation into Retention through the service and runs
    the after-commit callbacks (the deals_changed signal), as a real request would."""

    def _win(deal, actor):
        if deal.expected_close is None:
            pipeline_services.deal_update(deal=deal, actor=actor, expected_close=date.today() + timedelta(days=5))
        with django_capture_on_commit_callbacks(execute=True):
            return pipeline_services.deal_move(deal=deal.pk, to_stage=stages["Retention"], actor=actor)

    return _win


@pytest.fixture
def negotiation_deal(rep, stages):
    return DealFactory(owner=rep, stage=stages["Negotiation"], title="Big rollout", expected_close=date.today())


def in_hours(hours: float):
    return timezone.now() + timedelta(hours=hours)
