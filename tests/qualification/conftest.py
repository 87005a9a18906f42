import pytest

from qualification.models import Criterion, Profile


@pytest.fixture
def profile(db):
    """Software companies of 51–200 people in Germany: 30 + 50 + 20 = 100."""
    profile = Profile.objects.create(name="Mid-size software in DACH")
    Criterion.objects.create(profile=profile, attribute="industry", values="Software, SaaS", weight=30, position=1)
    Criterion.objects.create(profile=profile, attribute="company_size", values="51-200", weight=50, position=2)
    Criterion.objects.create(profile=profile, attribute="country", values="DE, AT", weight=20, position=3)
    return profile


@pytest.fixture(autouse=True)
def celery_in_process(monkeypatch):
    """These tests run the tasks in-process, also when REDIS_URL points the suite at a real broker
    (tests/integration/ sends them to a worker instead)."""
    from config.celery import app as celery_app

    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
