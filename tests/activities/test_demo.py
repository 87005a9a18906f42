import pytest

from activities.demo import seed_activities_demo
from activities.models import Activity, OnboardingItem, OnboardingTask
from pipeline.demo import seed_demo

pytestmark = pytest.mark.django_db


def test_demo_activities_cover_open_deals_and_recent_won_deals_get_checklists(pipeline):
    seed_demo(deals=60, seed=5)
    result = seed_activities_demo(seed=5)
    assert result.activities == Activity.objects.count() > 0
    assert Activity.objects.filter(done_at__isnull=True).exists() and Activity.objects.filter(done_at__isnull=False).exists()
    assert OnboardingItem.objects.filter(pipeline=pipeline).count() == 5
    assert OnboardingTask.objects.count() == result.checklists * 5
