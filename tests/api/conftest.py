"""People and deals for the API tests: a rep with a teammate, another team, their managers, an admin."""
import pytest
from rest_framework.test import APIClient

from api.models import ApiToken
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    """Rate limiting is tested on its own; elsewhere it must not interfere."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "100000/minute"}}
    yield


@pytest.fixture
def teammate(team):
    return UserFactory(username="tom", role="rep", team=team)


@pytest.fixture
def other_team(db):
    return TeamFactory(name="South")


@pytest.fixture
def other_rep(other_team):
    return UserFactory(username="olga", role="rep", team=other_team)


@pytest.fixture
def other_manager(other_team):
    user = UserFactory(username="omar", role="manager", team=other_team)
    other_team.manager = user
    other_team.save()
    return user


@pytest.fixture
def own_deal(rep, stages):
    return DealFactory(owner=rep, stage=stages["Prospecting"], organization=OrganizationFactory(owner=rep))


@pytest.fixture
def team_deal(teammate, stages):
    return DealFactory(owner=teammate, stage=stages["Prospecting"], organization=OrganizationFactory(owner=teammate))


@pytest.fixture
def other_deal(other_rep, stages):
    return DealFactory(owner=other_rep, stage=stages["Prospecting"], organization=OrganizationFactory(owner=other_rep))


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user) -> tuple[APIClient, ApiToken]:
    token, key = ApiToken.issue(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client, token


@pytest.fixture
def wsgi_app():
    """The real WSGI application, for schemathesis to call in-process inside the test's transaction.

    As Django's own test client does, it keeps the request signals from closing the database
    connection, which would end the test transaction on PostgreSQL. (The test client reconnects
    them after each of its own requests, so they are held off per call.)"""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from config.wsgi import application

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = application(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app
