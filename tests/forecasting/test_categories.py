"""Forecast categories: set by the rep through deal_update, recorded, and seen as of a date."""

from datetime import date, datetime, timezone as dt_timezone

import pytest

from forecasting.history import CATEGORY_CODES, as_of
from forecasting.loading import load_history
from pipeline import services
from pipeline.exceptions import PipelineError
from pipeline.models import DealChange

pytestmark = pytest.mark.django_db


def test_a_rep_sets_the_category_and_the_change_is_recorded(deal, rep):
    assert deal.forecast_category == "pipeline"
    updated = services.deal_update(
        deal=deal, actor=rep, forecast_category="commit", at=datetime(2025, 3, 1, 10, tzinfo=dt_timezone.utc)
    )
    assert updated.forecast_category == "commit"
    change = DealChange.objects.get(deal=deal, field="forecast_category")
    assert (change.old_value, change.new_value, change.actor) == ("pipeline", "commit", rep)


def test_an_unknown_category_is_refused(deal, rep):
    with pytest.raises(PipelineError):
        services.deal_update(deal=deal, actor=rep, forecast_category="sure thing")
    deal.refresh_from_db()
    assert deal.forecast_category == "pipeline" and not DealChange.objects.exists()


def test_the_category_as_of_a_date_comes_from_the_history(deal, rep):
    deal.created_at = datetime(2025, 1, 1, tzinfo=dt_timezone.utc)
    deal.save()
    services.deal_update(
        deal=deal, actor=rep, forecast_category="best_case", at=datetime(2025, 2, 1, 10, tzinfo=dt_timezone.utc)
    )
    services.deal_update(
        deal=deal, actor=rep, forecast_category="commit", at=datetime(2025, 3, 1, 10, tzinfo=dt_timezone.utc)
    )
    h = load_history(pipeline_id=deal.pipeline_id)
    seen = [int(as_of(h, date(2025, m, 15)).category[0]) for m in (1, 2, 3)]
    assert seen == [CATEGORY_CODES[c] for c in ("pipeline", "best_case", "commit")]
