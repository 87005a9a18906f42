"""Small hand-made histories for the pure forecasting methods (no database)."""

import numpy as np

from forecasting.history import CATEGORY_CODES, LOST, OPEN, WON, FieldChanges, History

NAMES = ["Prospecting", "Qualification", "Meeting & demo", "Offer", "Negotiation", "Retention"]
CONFIGURED = [0.10, 0.20, 0.40, 0.60, 0.80, 1.00]
P, Q, M, O, N, R = range(6)


def history(deals: list[dict], changes: dict | None = None) -> History:
    """deals: dicts with `path` [(iso time, stage index, status)], `amount`, `close` (ISO date),
    optional `currency`, `probability` (0..1), `category`, `owner`, `created`."""
    sc = []
    for i, d in enumerate(deals):
        for at, stage, status in d["path"]:
            sc.append((i, np.datetime64(at, "s"), stage, status))
    sc.sort(key=lambda r: (r[0], r[1]))
    last = {r[0]: r for r in sc}
    n = len(deals)
    fields = {}
    for name, rows in (changes or {}).items():
        rows = sorted(rows, key=lambda r: (r[0], r[1]))
        dtype = {
            "amount": float,
            "probability": float,
            "expected_close": "datetime64[D]",
            "currency": object,
            "category": np.int8,
        }[name]
        fields[name] = FieldChanges(
            np.array([r[0] for r in rows], np.int64),
            np.array([r[1] for r in rows], "datetime64[s]"),
            np.array([r[2] for r in rows], dtype),
            np.array([r[3] for r in rows], dtype),
        )
    return History(
        stage_ids=np.arange(1, 7),
        stage_names=list(NAMES),
        stage_probability=np.array(CONFIGURED),
        stage_is_won=np.array([False] * 5 + [True]),
        deal_id=np.arange(1, n + 1),
        external_id=np.array([d.get("external_id", f"D{i + 1}") for i, d in enumerate(deals)], dtype=object),
        owner_id=np.array([d.get("owner", 1) for d in deals], np.int64),
        created_at=np.array([d.get("created", d["path"][0][0]) for d in deals], "datetime64[s]"),
        amount=np.array([d.get("amount", np.nan) for d in deals], float),
        currency=np.array([d.get("currency", "EUR") for d in deals], dtype=object),
        expected_close=np.array([d.get("close", "NaT") for d in deals], "datetime64[D]"),
        probability=np.array([d.get("probability", np.nan) for d in deals], float),
        category=np.array([CATEGORY_CODES[d.get("category", "pipeline")] for d in deals], np.int8),
        stage=np.array([last[i][2] for i in range(n)], np.int64),
        status=np.array([last[i][3] for i in range(n)], np.int8),
        sc_deal=np.array([r[0] for r in sc], np.int64),
        sc_at=np.array([r[1] for r in sc], "datetime64[s]"),
        sc_stage=np.array([r[2] for r in sc], np.int64),
        sc_status=np.array([r[3] for r in sc], np.int8),
        changes=fields,
    )


def won_path(start_day: str, stages=(P, Q, M, O, N), won_day: str | None = None):
    """A deal walking through `stages` a week apart and won after the last one."""
    t = np.datetime64(start_day, "D")
    path = [(str(t + 7 * i) + "T10:00:00", s, OPEN) for i, s in enumerate(stages)]
    end = np.datetime64(won_day, "D") if won_day else t + 7 * len(stages)
    path.append((str(end) + "T10:00:00", R, WON))
    return path


def lost_path(start_day: str, stages=(P,), lost_day: str | None = None):
    t = np.datetime64(start_day, "D")
    path = [(str(t + 7 * i) + "T10:00:00", s, OPEN) for i, s in enumerate(stages)]
    end = np.datetime64(lost_day, "D") if lost_day else t + 7 * len(stages)
    path.append((str(end) + "T10:00:00", stages[-1], LOST))
    return path
