import pytest

from activities.demo import seed_activities_demo
from activities.models import Activity, Note, OnboardingItem, OnboardingTask
from pipeline.demo import seed_demo

pytestmark = pytest.mark.django_db


def test_demo_activities_cover_open_deals_and_recent_won_deals_get_checklists(pipeline):
    seed_demo(deals=60, seed=5)
    result = seed_activities_demo(seed=5)
    assert result.activities == Activity.objects.count() > 0
    assert Activity.objects.filter(done_at__isnull=True).exists() and Activity.objects.filter(done_at__isnull=False).exists()
    assert OnboardingItem.objects.filter(pipeline=pipeline).count() == 5
    assert OnboardingTask.objects.count() == result.checklists * 5


def test_demo_notes_and_done_activities_never_predate_their_deal(pipeline):
    seed_demo(deals=120, seed=9)
    seed_activities_demo(seed=9)
    notes = list(Note.objects.select_related("deal"))
    done = list(Activity.objects.filter(done_at__isnull=False).select_related("deal"))
    assert notes and done
    assert all(note.created_at >= note.deal.created_at for note in notes)
    assert all(activity.done_at >= activity.deal.created_at for activity in done)
