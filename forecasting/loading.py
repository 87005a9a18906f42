"""Load a pipeline's deals and history from the database into a `History`, in four queries."""
from __future__ import annotations

import numpy as np
from django.db.models import QuerySet

from pipeline.models import Deal, DealChange, DealField, Stage, StageChange, StageKind

from .history import CATEGORY_CODES, STATUS_CODES, FieldChanges, History

TRACKED = {
    DealField.AMOUNT: "amount",
    DealField.CURRENCY: "currency",
    DealField.EXPECTED_CLOSE: "expected_close",
    DealField.PROBABILITY: "probability",
    DealField.FORECAST_CATEGORY: "category",
}


def _seconds(values) -> np.ndarray:
    """Aware datetimes as datetime64[s] (UTC)."""
    stamps = np.fromiter((v.timestamp() for v in values), dtype=np.float64, count=len(values))
    return stamps.astype(np.int64).astype("datetime64[s]")


def _days(values) -> np.ndarray:
    return np.array([v.isoformat() if v else "NaT" for v in values], dtype="datetime64[D]")


def _numbers(texts: np.ndarray, scale: float = 1.0) -> np.ndarray:
    texts = np.asarray(texts, dtype=str)
    return np.where(texts == "", "nan", texts).astype(float) / scale


def _text_days(texts: np.ndarray) -> np.ndarray:
    texts = np.asarray(texts, dtype=str)
    return np.where(texts == "", "NaT", texts).astype("datetime64[D]")


def _categories(texts) -> np.ndarray:
    return np.array([CATEGORY_CODES.get(t, 0) for t in texts], dtype=np.int8)


PARSERS = {
    "amount": _numbers,
    "probability": lambda texts: _numbers(texts, 100.0),
    "expected_close": _text_days,
    "currency": lambda texts: np.asarray(texts, dtype=object),
    "category": _categories,
}


def load_history(*, pipeline_id: int, deals: QuerySet[Deal] | None = None) -> History:
    """The pipeline's deals (all, or those of `deals`) with their stage and field history."""
    stages = list(
        Stage.objects.filter(pipeline_id=pipeline_id).order_by("position", "pk").values_list("pk", "name", "probability", "kind")
    )
    stage_ids = np.array([s[0] for s in stages], np.int64)
    deal_qs = (deals if deals is not None else Deal.objects.all()).filter(pipeline_id=pipeline_id)
    rows = list(
        deal_qs.order_by("pk").values_list(
            "pk", "external_id", "owner_id", "created_at", "amount", "currency", "expected_close", "probability",
            "forecast_category", "stage_id", "status",
        )
    )
    cols = list(zip(*rows)) if rows else [[] for _ in range(11)]
    deal_id = np.array(cols[0], np.int64)
    stage_pos = {pk: i for i, pk in enumerate(stage_ids.tolist())}

    sc = list(
        StageChange.objects.filter(deal__in=deal_qs.values("pk"))
        .order_by("deal_id", "at", "pk")
        .values_list("deal_id", "at", "to_stage_id", "to_status")
    )
    sc_cols = list(zip(*sc)) if sc else [[] for _ in range(4)]
    dc = list(
        DealChange.objects.filter(deal__in=deal_qs.values("pk"), field__in=list(TRACKED))
        .order_by("field", "deal_id", "at", "pk")
        .values_list("field", "deal_id", "at", "old_value", "new_value")
    )
    changes = {}
    if dc:
        fields, deal_ids, ats, olds, news = (np.array(c, dtype=object) for c in zip(*dc))
        for field_value, name in TRACKED.items():
            mask = fields == field_value
            if not mask.any():
                continue
            parse = PARSERS[name]
            changes[name] = FieldChanges(
                np.searchsorted(deal_id, deal_ids[mask].astype(np.int64)),
                _seconds(ats[mask]),
                parse(olds[mask]),
                parse(news[mask]),
            )
    to_stage = np.array([stage_pos.get(s, 0) for s in sc_cols[2]], np.int64)
    return History(
        stage_ids=stage_ids,
        stage_names=[s[1] for s in stages],
        stage_probability=np.array([s[2] for s in stages], float) / 100.0,
        stage_is_won=np.array([s[3] == StageKind.WON for s in stages], bool),
        deal_id=deal_id,
        external_id=np.array([e or "" for e in cols[1]], dtype=object),
        owner_id=np.array(cols[2], np.int64),
        created_at=_seconds(cols[3]),
        amount=np.array([float(a) if a is not None else np.nan for a in cols[4]], float),
        currency=np.array(cols[5], dtype=object),
        expected_close=_days(cols[6]),
        probability=np.array([p / 100.0 if p is not None else np.nan for p in cols[7]], float),
        category=_categories(cols[8]),
        stage=np.array([stage_pos.get(s, 0) for s in cols[9]], np.int64),
        status=np.array([STATUS_CODES[s] for s in cols[10]], np.int8),
        sc_deal=np.searchsorted(deal_id, np.array(sc_cols[0], np.int64)),
        sc_at=_seconds(sc_cols[1]),
        sc_stage=to_stage,
        sc_status=np.array([STATUS_CODES.get(s, 0) for s in sc_cols[3]], np.int8),
        changes=changes,
    )
