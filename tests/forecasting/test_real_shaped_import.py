"""A generated real-shaped history goes through `import_history` (the history writer the import
wizard shares) and comes back out of the database as the history the generator made, so that
`backtest --history` on such an installation scores what the generator's history scores."""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from datetime import timezone as dt_timezone
from pathlib import Path

import numpy as np
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection

from forecasting import evaluation, realistic
from forecasting.importing import import_history
from forecasting.loading import load_history

ROOT = Path(__file__).resolve().parents[2]
AFTER_THE_EXPORT = datetime(2026, 1, 15, 9, tzinfo=dt_timezone.utc)


@pytest.fixture
def real():
    return realistic.generate(seed=4, months=9, deals_per_month=45)


@pytest.fixture
def imported(pipeline, real, tmp_path):
    realistic.write_csv(real, tmp_path / "deals.csv", tmp_path / "events.csv")
    with time_machine.travel(AFTER_THE_EXPORT, tick=False):
        import_history(tmp_path / "deals.csv", tmp_path / "events.csv", pipeline=pipeline)
    return load_history(pipeline_id=pipeline.pk)


def _rows_by_deal(h):
    """Per external id: its stage rows as (when, stage name, status code)."""
    out = {}
    for deal, at, stage, status in zip(h.sc_deal, h.sc_at, h.sc_stage, h.sc_status):
        out.setdefault(h.external_id[deal], []).append((at, h.stage_names[stage], int(status)))
    return out


@pytest.mark.django_db
def test_the_export_files_carry_each_deals_stage_and_nothing_the_export_lacks(real, tmp_path):
    realistic.write_csv(real, tmp_path / "deals.csv", tmp_path / "events.csv")
    deals = (tmp_path / "deals.csv").read_text(encoding="utf-8").splitlines()
    events = (tmp_path / "events.csv").read_text(encoding="utf-8").splitlines()
    assert len(deals) == len(events) == real.history.n_deals + 1
    assert deals[0].split(",")[7] == "expected_close"
    assert all(line.split(",")[7] == "" for line in deals[1:])  # no expected close dates
    assert {line.split(",")[2] for line in events[1:]} == {"stage"}  # no moves, amounts or dates
    assert {line.split(",")[4] for line in events[1:]} >= {"Prospecting", "Offer"}


@pytest.mark.django_db
def test_an_imported_real_shaped_history_is_the_history_the_generator_made(real, imported):
    made, loaded = real.history, imported
    assert loaded.n_deals == made.n_deals
    order = {ext: i for i, ext in enumerate(loaded.external_id)}
    at = np.array([order[ext] for ext in made.external_id])
    assert np.array_equal(loaded.created_at[at], made.created_at)
    assert np.array_equal(loaded.status[at], made.status)
    assert np.allclose(loaded.amount[at], made.amount)
    assert np.isnat(loaded.expected_close).all()
    assert _rows_by_deal(loaded) == _rows_by_deal(made)


@pytest.mark.django_db
def test_backtest_on_the_imported_history_scores_what_the_generated_history_scores(real, imported, capsys):
    # Both end at the last record, as an installation's own history does.
    expected = evaluation.evaluate(real.history, warmup=6, simulations=200)
    with time_machine.travel(AFTER_THE_EXPORT, tick=False):
        call_command("backtest", "--history", "--simulations", "200", "--format", "json")
    (data,) = json.loads(capsys.readouterr().out)
    assert [p["period"] for p in data["periods"]] == [row["period"] for row in expected.periods]
    for got, row in zip(data["periods"], expected.periods):
        assert got["actual"] == pytest.approx(row["actual"])
        for method in evaluation.METHODS:
            assert got[method]["expected"] == pytest.approx(row[method][0], rel=1e-6)
    scored = [s for s in data["scores"] if s["periods"]]
    assert {s["name"] for s in scored} >= {"weighted", "learned", "montecarlo", "mean of last 3"}
    for score in scored:
        assert score["wape"] == pytest.approx(expected.score(score["name"]).wape, abs=1e-4)
    with pytest.raises(CommandError, match="There is no such pipeline"):
        call_command("backtest", "--history", "--pipeline", "999999")


@pytest.mark.django_db(transaction=True)
def test_backtest_reads_another_installations_database_given_by_its_url(real, imported, capsys, tmp_path):
    if connection.vendor == "sqlite":
        # The test database lives in memory: copy it into a file another connection can open.
        copy = tmp_path / "other.sqlite3"
        target = sqlite3.connect(copy)
        connection.ensure_connection()
        connection.connection.backup(target)
        target.close()
        url = f"sqlite:///{copy}"
    else:
        s = connection.settings_dict
        login = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        url = f"postgres://{login}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    call_command("backtest", "--history", "--warmup", "7", "--simulations", "100", "--format", "json")
    here = json.loads(capsys.readouterr().out)
    # Another installation's command line, reading this database as a stranger's.
    command = [sys.executable, "manage.py", "backtest", "--history", "--database-url", url]
    options = ["--warmup", "7", "--simulations", "100", "--format", "json"]
    env = {**os.environ, "DEBUG": "1"}
    there = subprocess.run([*command, *options], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(there.stdout) == here and here[0]["periods"]
