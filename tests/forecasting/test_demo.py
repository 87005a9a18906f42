"""Demo quotas and forecast categories: the dashboard of a fresh `make run` shows attainment and commit."""
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command

from forecasting.demo import seed_forecast_demo
from forecasting.models import Quota
from pipeline.demo import seed_demo
from pipeline.models import Deal, DealStatus, ForecastCategory

pytestmark = pytest.mark.django_db


@time_machine.travel("2026-05-20 09:00:00+00:00", tick=False)
def test_demo_people_and_teams_get_quarterly_quotas_and_late_open_deals_commit(pipeline):
    seed_demo(deals=300, seed=4)
    result = seed_forecast_demo(seed=4)
    quotas = Quota.objects.all()
    assert result.quotas == quotas.count() > 0
    people = {q.user.username for q in quotas if q.user_id}
    assert {"rita", "ralf", "sofia", "sven"} <= people and "admin" not in people
    assert {q.team.name for q in quotas if q.team_id} == {"North", "South"}
    starts = sorted({q.period_start.isoformat() for q in quotas})
    assert starts[0] == "2025-04-01" and starts[-1] == "2026-07-01" and len(starts) == 6  # 4 past, this, next
    assert all(q.amount >= 10000 and q.amount % 1000 == 0 and q.period_kind == "quarter" for q in quotas)
    categories = set(Deal.objects.filter(status=DealStatus.OPEN).values_list("forecast_category", flat=True))
    assert ForecastCategory.COMMIT in categories and ForecastCategory.PIPELINE in categories
    early = Deal.objects.filter(status=DealStatus.OPEN, stage__position=0)
    assert not early.filter(forecast_category=ForecastCategory.COMMIT).exists()


def test_seeding_again_changes_nothing(pipeline):
    seed_demo(deals=80, seed=2)
    call_command("seed_forecast_demo", stdout=StringIO())
    before = (list(Quota.objects.values_list("pk", "amount")), list(Deal.objects.values_list("pk", "forecast_category")))
    out = StringIO()
    call_command("seed_forecast_demo", stdout=out)
    assert "nothing changed" in out.getvalue()
    assert before == (list(Quota.objects.values_list("pk", "amount")), list(Deal.objects.values_list("pk", "forecast_category")))


def test_make_run_leaves_no_follow_up_pending_and_a_forecast_to_show(pipeline):
    from forecasting.models import ForecastSnapshot
    from outbox.models import OutboxMessage

    seed_demo(deals=60, seed=6)
    call_command("outbox_dispatch", stdout=StringIO())
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()
    out = StringIO()
    call_command("seed_forecast_demo", stdout=out)
    assert "forecast is computed" in out.getvalue()
    assert ForecastSnapshot.objects.filter(pipeline=pipeline).exists()
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    seed = makefile.split("\nseed:", 1)[1].split("\n\n", 1)[0]
    assert seed.index("outbox_dispatch") < seed.index("seed_forecast_demo")
