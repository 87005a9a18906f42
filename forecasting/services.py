"""Forecast computations."""
from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from pipeline.models import Deal, DealStatus
from pipeline.selectors import weighted_amount_expression


def forecast_refresh_pipeline(*, pipeline_id: int) -> dict:
    """Recompute the weighted open pipeline per currency and keep it in the cache."""
    rows = (
        Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN)
        .order_by()
        .values("currency")
        .annotate(weighted=Sum(weighted_amount_expression()), total=Sum("amount"))
    )
    result = {
        "pipeline_id": pipeline_id,
        "computed_at": timezone.now().isoformat(),
        "by_currency": {r["currency"]: {"weighted": str(r["weighted"] or 0), "total": str(r["total"] or 0)} for r in rows},
    }
    # Published only once the surrounding transaction commits: a recompute that dies half-way
    # leaves the previous result in place, never a mix.
    transaction.on_commit(lambda: cache.set(f"forecast:pipeline:{pipeline_id}", result, timeout=None))
    return result
