import os

import pytest

from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory, default_pipeline


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
def organization(db):
    return OrganizationFactory()


@pytest.fixture(scope="session", autouse=True)
def _attachment_storage(tmp_path_factory, django_test_environment):
    """Files uploaded by tests go to a folder of the test run, never to the installation's media folder."""
    from django.conf import settings
    from django.test import override_settings

    location = tmp_path_factory.mktemp("attachments")
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location, "base_url": None}}
    with override_settings(STORAGES={**settings.STORAGES, "attachments": storage}):
        yield location


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: locks, debounce markers and cached forecasts of one
    test never leak into the next. On Redis only the suite's own keys are removed."""
    from tests.services import cache_clear_test_keys

    cache_clear_test_keys()
    yield


@pytest.fixture(autouse=True)
def _installation_language():
    """A request in German activates German in the test's thread (LocaleMiddleware), and it
    stays active after the response: each test starts again in the installation's language."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With STAGEFLOW_CI_NO_SKIPS=1 (set by .ci/run) a skipped test fails: CI skips nothing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("STAGEFLOW_CI_NO_SKIPS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped in CI, where nothing may be skipped: {reason}"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the installation's language: a request in German (or a test that
    activated it) leaves German active in the thread, and tests run in any order."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Tests create many users; the production hasher is deliberately slow (about 0.3 s a hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    """Every transactional test rolls back by serialization.

    A transactional test ends by emptying the database. Without serialized_rollback Django then
    recreates content types and permissions with new ids, and the next test that restores the
    serialized database collides with them (duplicate content types). With it on every such
    test, each one starts from the migrated data (default pipeline included) and none collides.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and "serialized_rollback" not in marker.kwargs:
            item.add_marker(pytest.mark.django_db(*marker.args, **marker.kwargs, serialized_rollback=True), append=False)


class HeldJobs(list):
    """Jobs handed to laptop mode's background thread, held until the test runs them."""

    def run(self) -> int:
        ran = 0
        while self:
            job, args = self.pop(0)
            job(*args)
            ran += 1
        return ran


@pytest.fixture(autouse=True)
def background_jobs(monkeypatch):
    """config.background runs jobs in a thread after the response. In tests the outbox's dispatch
    runs at once (as the thread would, right after the response), and every other job (the forecast
    recompute after a move) waits here, so a test decides when and whether it runs."""
    from config import background
    from outbox.services import dispatch_now

    held = HeldJobs()

    def submit(job, *args):
        if job is dispatch_now:
            job(*args)
        else:
            held.append((job, args))

    monkeypatch.setattr(background, "submit", submit)
    return held


@pytest.fixture
def outbox_worker(monkeypatch):
    """Not eager, no broker: the outbox dispatch enqueued after a commit runs in-process right
    away, as a worker would; returns the message ids it was handed."""
    from outbox import tasks as outbox_tasks

    handed = []

    def run(message_ids):
        handed.extend(message_ids)
        return outbox_tasks.outbox_dispatch.apply((message_ids,))

    monkeypatch.setattr(outbox_tasks.outbox_dispatch, "delay", run)
    return handed
