import pytest

from pipeline.people import person_create
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory


def organization(name: str, *, owner=None, domains: str = "", city: str = ""):
    """An organisation without a main contact: the factory's made-up contact could match a search."""
    return OrganizationFactory(name=name, owner=owner, domains=domains, city=city, contact_name="", contact_email="")


def person(name: str, *, owner=None, at=None, emails=(), phones=(), job_title: str = ""):
    return person_create(
        actor=None, name=name, owner=owner, organization=at, emails=emails, phones=phones, job_title=job_title,
    )


def deal(title: str, *, owner, at, **fields):
    return DealFactory(title=title, owner=owner, organization=at, **fields)


@pytest.fixture
def teams(db, settings):
    """Two teams, a rep and a manager each, and an admin. Reps see only their own deals here."""
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False, "SHARED_ADDRESS_BOOK": False}
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    users = {
        "rita": UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep", team=north),
        "olga": UserFactory(username="olga", first_name="Olga", last_name="Ost", role="rep", team=south),
        "max": UserFactory(username="max", first_name="Max", last_name="Meyer", role="manager", team=north),
        "sam": UserFactory(username="sam", first_name="Sam", last_name="Süd", role="manager", team=south),
        "ada": UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True),
    }
    north.manager, south.manager = users["max"], users["sam"]
    north.save()
    south.save()
    return users
