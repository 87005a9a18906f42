import pytest

from tests.factories import DealFactory, LeadFactory, TeamFactory, UserFactory, default_pipeline


@pytest.fixture
def pipeline(db):
    return default_pipeline()


@pytest.fixture
def stages(pipeline):
    """The default stages by name."""
    return {s.name: s for s in pipeline.stages.all()}


@pytest.fixture
def team(db):
    return TeamFactory(name="North")


@pytest.fixture
def rep(team):
    return UserFactory(username="rita", role="rep", team=team)


@pytest.fixture
def manager(team):
    user = UserFactory(username="max", role="manager", team=team)
    team.manager = user
    team.save()
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True)


@pytest.fixture
def deal(rep, stages):
    return DealFactory(owner=rep, stage=stages["Prospecting"])


@pytest.fixture
def lead(db):
    return LeadFactory()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Tests create many users; the production hasher is deliberately slow (about 0.3 s a hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
