"""The output contracts of `forecast` and `backtest`."""

import json
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from forecasting import synthetic
from forecasting.importing import import_history

SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.fixture
def imported(pipeline):
    import_history(SAMPLES / "history-deals.csv", SAMPLES / "history-events.csv")


def run(capsys, *args):
    call_command("forecast", *args)
    return capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["weighted", "learned", "montecarlo"])
def test_forecast_json_has_the_contract_fields(imported, capsys, method):
    out = run(
        capsys,
        "--as-of",
        "2025-03-15",
        "--method",
        method,
        "--period",
        "month",
        "--horizon",
        "3",
        "--format",
        "json",
        "--deals",
        "--simulations",
        "500",
    )
    data = json.loads(out)
    assert [p["period"] for p in data["periods"]] == ["2025-03", "2025-04", "2025-05"]
    for row in data["periods"]:
        assert {"period", "expected", "p10", "p50", "p90", "currency", "won"} <= set(row)
        assert row["p10"] <= row["p50"] <= row["p90"]
    assert {d["external_id"]: d["probability"] for d in data["deals"]} == {
        "EXT-1001": 0.6,
        "EXT-1002": 0.4,
        "EXT-1003": 0.1,  # nothing had closed yet: the configured values
    }
    if method != "montecarlo":
        assert [p["expected"] for p in data["periods"]] == [0.0, 14400.0, 8120.0]


@pytest.mark.django_db
def test_forecast_table_and_later_as_of_dates(imported, capsys):
    out = run(
        capsys, "--as-of", "2025-04-30", "--method", "weighted", "--period", "quarter", "--horizon", "1", "--deals"
    )
    lines = out.splitlines()
    assert lines[0].split() == ["period", "currency", "won", "expected", "p10", "p50", "p90"]
    # EXT-1001 was won on 2025-04-11 (24,000); EXT-1002 lost; EXT-1003 open: 7,200 × 20 % in June,
    # P90 = 25,440 + 1.2816 × 7,200 × √(0.2 × 0.8).
    assert lines[1].split() == ["2025-Q2", "EUR", "24000.00", "25440.00", "24000.00", "25440.00", "29130.87"]
    assert lines[3].split() == ["external_id", "id", "stage", "probability"]
    assert lines[4].split()[0] == "EXT-1003" and lines[4].split()[-1] == "0.2"
    assert len(lines) == 5


@pytest.mark.django_db
def test_forecast_prints_the_chance_of_reaching_a_quota(imported, capsys):
    out = run(
        capsys,
        "--as-of",
        "2025-03-15",
        "--method",
        "montecarlo",
        "--period",
        "quarter",
        "--horizon",
        "2",
        "--format",
        "json",
        "--quota",
        "EUR=20000",
        "--simulations",
        "2000",
    )
    data = json.loads(out)
    q1, q2 = data["periods"]
    # No deal had been won yet, so close dates do not slip: all three are due in Q2.
    assert q1["quota_chance"] == 0
    # Q2 reaches 20,000 when EXT-1001 (24,000, Offer 60 %) is won, or EXT-1002 (18,500, 40 %) and
    # EXT-1003 (7,200, 10 %) both are: 0.6 + 0.4 × 0.04 ≈ 0.62 for independent deals.
    assert q2["quota_chance"] == pytest.approx(0.62, abs=0.05)
    assert data["quota"] == {"EUR": 20000.0}
    table = run(capsys, "--as-of", "2025-03-15", "--method", "montecarlo", "--quota", "20000")
    assert table.splitlines()[0].split()[-1] == "quota_chance"


@pytest.mark.django_db
def test_an_empty_pipeline_still_lists_every_period(pipeline, capsys):
    data = json.loads(
        run(
            capsys,
            "--as-of",
            "2025-02-10",
            "--method",
            "montecarlo",
            "--period",
            "month",
            "--horizon",
            "2",
            "--format",
            "json",
            "--deals",
        )
    )
    assert [(p["period"], p["currency"], p["expected"], p["p90"]) for p in data["periods"]] == [
        ("2025-02", "EUR", 0.0, 0.0),
        ("2025-03", "EUR", 0.0, 0.0),
    ]
    assert data["deals"] == []


@pytest.mark.django_db
def test_forecast_refuses_bad_arguments(pipeline):
    with pytest.raises(CommandError, match="--as-of"):
        call_command("forecast", "--as-of", "31.03.2025")
    with pytest.raises(CommandError, match="--horizon"):
        call_command("forecast", "--horizon", "0")
    with pytest.raises(CommandError, match="--quota needs --method montecarlo"):
        call_command("forecast", "--method", "weighted", "--quota", "100")
    with pytest.raises(CommandError, match="--quota must look like"):
        call_command("forecast", "--method", "montecarlo", "--quota", "EUR=lots")


def test_backtest_prints_the_comparison_table(capsys):
    call_command("backtest", "--seed", "3", "--months", "36", "--deals-per-month", "80", "--simulations", "300")
    out = capsys.readouterr().out
    assert "WAPE" in out and "Brier" in out and "P10-P90 coverage" in out
    methods = [
        line.split()[0] for line in out.splitlines() if len(line.split()) == 6 and line.split()[0] in synthetic.METHODS
    ]
    assert methods == list(synthetic.METHODS)
    assert "Seeds 3; 6 quarters scored." in out


def test_learned_and_montecarlo_beat_the_fixed_weighted_forecast_on_the_synthetic_pipeline():
    scores, quarters = synthetic.backtest(seeds=(11,), months=42, deals_per_month=150, simulations=500)
    by = {s.method: s for s in scores}
    assert by["weighted"].quarters == 8
    assert by["learned"].wape < by["weighted"].wape and by["montecarlo"].wape < by["weighted"].wape
    assert by["learned"].brier < by["weighted"].brier
    assert by["learned"].probability_error < by["weighted"].probability_error / 2
    assert abs(by["montecarlo"].bias) < abs(by["weighted"].bias)


def test_the_generator_is_seeded_and_its_truth_is_the_chains_absorption():
    a, b = (
        synthetic.generate(seed=1, months=6, deals_per_month=20),
        synthetic.generate(seed=1, months=6, deals_per_month=20),
    )
    assert (a.history.sc_at == b.history.sc_at).all() and (a.outcome == b.outcome).all()
    truth = synthetic.true_probabilities()
    # Negotiation: wins 55 %, back to Offer 12 %; Offer reaches Negotiation 52 %, wins directly 10 %, ...
    q = synthetic.TRANSITIONS
    assert truth[4] == pytest.approx(q[4, 5] + q[4, 3] * truth[3])
    assert truth[3] == pytest.approx(q[3, 5] + q[3, 4] * truth[4] + q[3, 2] * truth[2])


@pytest.mark.django_db
def test_a_forecast_on_a_quarters_last_day_covers_the_next_quarter(imported, capsys):
    data = json.loads(
        run(capsys, "--as-of", "2025-03-31", "--method", "learned", "--period", "quarter", "--horizon", "1",
            "--format", "json")  # fmt: skip
    )
    assert [p["period"] for p in data["periods"]] == ["2025-Q2"]
    assert data["periods"][0]["expected"] > 0


@pytest.mark.django_db
def test_forecast_says_how_many_deals_lack_an_amount_or_a_date_and_what_was_assumed(rep, stages, capsys):
    from datetime import datetime, timezone as dt_timezone

    from pipeline import services as pipeline_services
    from tests.factories import OrganizationFactory

    when = datetime(2025, 3, 3, 10, tzinfo=dt_timezone.utc)
    for amount, close in ((None, None), (None, date(2025, 3, 10)), ("500", None)):
        pipeline_services.deal_create(
            actor=rep, organization=OrganizationFactory(), title="Deal", stage=stages["Prospecting"], amount=amount,
            expected_close=close, at=when,
        )  # fmt: skip
    with translation.override("en"):  # whatever language an earlier test left active
        data = json.loads(run(capsys, "--as-of", "2025-03-20", "--period", "month", "--format", "json"))
        table = run(capsys, "--as-of", "2025-03-20", "--period", "month", "--pipeline-only")
    assert data["warnings"] == [
        "2 open deals have no amount: they count as 0.",
        "2 open deals have no expected close date: when they close was estimated from how deals of their stage "
        "and age closed before.",
        "1 open deal is past its expected close date: its remaining chance is spread over the periods ahead.",
    ]
    assert "2 open deals have no expected close date: they are left out of the periods." in table
    assert "from deals not yet created" not in table


@pytest.mark.django_db
def test_forecast_shows_the_new_business_from_deals_not_yet_created_as_its_own_line(imported, capsys):
    with translation.override("en"):
        table = run(capsys, "--as-of", "2025-04-30", "--method", "montecarlo", "--period", "month", "--horizon", "2")
    assert "Included above, from deals not yet created:" in table
    data = json.loads(
        run(capsys, "--as-of", "2025-04-30", "--method", "learned", "--period", "month", "--format", "json")
    )
    assert all("not_yet_created" in p for p in data["periods"])


def test_backtest_on_generated_real_shaped_histories_prints_methods_beside_naive_baselines(capsys):
    call_command(
        "backtest", "--realistic", "--seed", "5", "--months", "9", "--deals-per-month", "120", "--simulations", "200",
        "--format", "json",
    )  # fmt: skip
    (data,) = json.loads(capsys.readouterr().out)
    assert data["history"] == "real-shaped, seed 5" and data["period"] == "month"
    names = [s["name"] for s in data["scores"]]
    assert names == ["weighted", "learned", "montecarlo", "last period", "mean of last 3", "same period a year ago"]
    assert [p["period"] for p in data["periods"]] == ["2025-07", "2025-08", "2025-09"]
    learned = next(s for s in data["scores"] if s["name"] == "learned")
    assert learned["periods"] == 3 and learned["wape"] is not None and learned["coverage"] is not None
    call_command("backtest", "--realistic", "--seed", "5", "--months", "9", "--deals-per-month", "120",
                 "--simulations", "200", "--quarters")  # fmt: skip
    table = capsys.readouterr().out
    assert "naive: mean of last 3" in table and "best method:" in table and "2025-09 actual" in table


@pytest.mark.django_db
def test_backtest_on_this_installations_history_needs_enough_of_it(imported):
    with pytest.raises(CommandError, match="too short"):
        call_command("backtest", "--history")
    with pytest.raises(CommandError, match="--database-url needs --history"):
        call_command("backtest", "--database-url", "sqlite:///elsewhere.sqlite3")


@pytest.mark.django_db
def test_backtest_on_this_installations_history_reads_the_database(imported, capsys):
    call_command("backtest", "--history", "--warmup", "1", "--simulations", "100", "--format", "json")
    (data,) = json.loads(capsys.readouterr().out)
    assert data["history"] == "this installation"
    assert data["periods"] and all("actual" in p for p in data["periods"])
