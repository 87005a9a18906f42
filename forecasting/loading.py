"""Load a pipeline's deals and history from the database into a `History`, in four queries."""

from __future__ import annotations

import numpy as np
from django.db.models import FloatField, Func, IntegerField, QuerySet
from django.db.models.functions import Cast

from pipeline.models import Deal, DealChange, DealField, Stage, StageChange, StageKind

from .history import CATEGORY_CODES, STATUS_CODES, FieldChanges, History

TRACKED = {
    DealField.AMOUNT: "amount",
    DealField.CURRENCY: "currency",
    DealField.EXPECTED_CLOSE: "expected_close",
    DealField.PROBABILITY: "probability",
    DealField.FORECAST_CATEGORY: "category",
}


class EpochSeconds(Func):
    """A datetime as seconds since 1970 (UTC), computed by the database: a float per row is far
    cheaper to fetch than an aware datetime."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL (and anything like it)
        return super().as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS REAL)", **extra
        )


class EpochDays(Func):
    """A date as days since 1970-01-01, computed by the database (NULL stays NULL)."""

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="(%(expressions)s - DATE '1970-01-01')", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler, connection, template="CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)", **extra
        )


def _float_seconds(values) -> np.ndarray:
    return np.array(values, dtype=np.float64).astype(np.int64).astype("datetime64[s]")


def _float_days(values) -> np.ndarray:
    days = np.array(values, dtype=np.float64)  # None → NaN
    out = np.full(len(days), np.datetime64("NaT"), "datetime64[D]")
    known = ~np.isnan(days)
    out[known] = days[known].astype(np.int64).astype("datetime64[D]")
    return out


def _numbers(texts: np.ndarray, scale: float = 1.0) -> np.ndarray:
    texts = np.asarray(texts, dtype=str)
    return np.where(texts == "", "nan", texts).astype(float) / scale


def _text_days(texts: np.ndarray) -> np.ndarray:
    texts = np.asarray(texts, dtype=str)
    return np.where(texts == "", "NaT", texts).astype("datetime64[D]")


def _codes(texts, codes: dict) -> np.ndarray:
    """Text values as small integer codes (unknown text: 0), without a Python loop per row."""
    texts = np.asarray(texts, dtype=str) if len(texts) else np.zeros(0, str)
    out = np.zeros(len(texts), np.int8)
    for text, code in codes.items():
        out[texts == text] = code
    return out


def _categories(texts) -> np.ndarray:
    return _codes(texts, CATEGORY_CODES)


def _positions(ids, stage_ids: np.ndarray) -> np.ndarray:
    """Stage ids as indices into the pipeline's stages in board order (unknown: 0)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(stage_ids) == 0 or len(ids) == 0:
        return np.zeros(len(ids), np.int64)
    order = np.argsort(stage_ids)
    found = np.clip(np.searchsorted(stage_ids[order], ids), 0, len(order) - 1)
    return np.where(stage_ids[order][found] == ids, order[found], 0).astype(np.int64)


PARSERS = {
    "amount": _numbers,
    "probability": lambda texts: _numbers(texts, 100.0),
    "expected_close": _text_days,
    "currency": lambda texts: np.asarray(texts, dtype=object),
    "category": _categories,
}


def load_history(*, pipeline_id: int, deals: QuerySet[Deal] | None = None, using: str = "default") -> History:
    """The pipeline's deals (all, or those of `deals`) with their stage and field history, from the
    database `using` (another installation's, for a backtest on its history)."""
    stages = list(
        Stage.objects.using(using).filter(pipeline_id=pipeline_id)
        .order_by("position", "pk")
        .values_list("pk", "name", "probability", "kind")
    )
    stage_ids = np.array([s[0] for s in stages], np.int64)
    deal_qs = (deals if deals is not None else Deal.objects.using(using)).filter(pipeline_id=pipeline_id)
    rows = list(
        deal_qs.order_by("pk")
        .annotate(
            _created=EpochSeconds("created_at"),
            _amount=Cast("amount", FloatField()),
            _close=EpochDays("expected_close"),
        )
        .values_list(
            "pk",
            "external_id",
            "owner_id",
            "_created",
            "_amount",
            "currency",
            "_close",
            "probability",
            "forecast_category",
            "stage_id",
            "status",
        )
    )
    cols = list(zip(*rows)) if rows else [[] for _ in range(11)]
    deal_id = np.array(cols[0], np.int64)

    sc = list(
        StageChange.objects.using(using).filter(deal__in=deal_qs.values("pk"))
        .order_by("deal_id", "at", "pk")
        .annotate(_at=EpochSeconds("at"))
        .values_list("deal_id", "_at", "to_stage_id", "to_status")
    )
    sc_cols = list(zip(*sc)) if sc else [[] for _ in range(4)]
    dc = list(
        DealChange.objects.using(using).filter(deal__in=deal_qs.values("pk"), field__in=list(TRACKED))
        .order_by("field", "deal_id", "at", "pk")
        .annotate(_at=EpochSeconds("at"))
        .values_list("field", "deal_id", "_at", "old_value", "new_value")
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
                _float_seconds(ats[mask].astype(np.float64)),
                parse(olds[mask]),
                parse(news[mask]),
            )
    to_stage = _positions(sc_cols[2], stage_ids)
    return History(
        stage_ids=stage_ids,
        stage_names=[s[1] for s in stages],
        stage_probability=np.array([s[2] for s in stages], float) / 100.0,
        stage_is_won=np.array([s[3] == StageKind.WON for s in stages], bool),
        deal_id=deal_id,
        external_id=np.array(cols[1], dtype=object),
        owner_id=np.array(cols[2], np.int64),
        created_at=_float_seconds(cols[3]),
        amount=np.array(cols[4], dtype=np.float64),
        currency=np.array(cols[5], dtype=object),
        expected_close=_float_days(cols[6]),
        probability=np.array(cols[7], dtype=np.float64) / 100.0,
        category=_categories(cols[8]),
        stage=_positions(cols[9], stage_ids),
        status=_codes(cols[10], STATUS_CODES),
        sc_deal=np.searchsorted(deal_id, np.array(sc_cols[0], np.int64)),
        sc_at=_float_seconds(sc_cols[1]),
        sc_stage=to_stage,
        sc_status=_codes(sc_cols[3], STATUS_CODES),
        changes=changes,
    )
