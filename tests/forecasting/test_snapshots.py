"""Snapshots (atomic, append-only, idempotent), the scheduled tasks, quotas, accuracy and the
learned probabilities kept for the admin."""

import json
from datetime import date, datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.models import Team
from config.celery import app
from forecasting import accuracy, montecarlo, quotas, services, snapshots, sums, tasks
from forecasting.models import ForecastSnapshot, LearnedProbability, Quota
from pipeline import services as pipeline_services
from tests.factories import OrganizationFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db


def at(day: date, hour=10) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=hour, tzinfo=dt_timezone.utc)


@pytest.fixture
def book(rep, stages, team):
    """Open deals of two reps (one in the team) and some closed history."""
    today = date.today()
    other = UserFactory(username="otto", role="rep", team=Team.objects.create(name="South"))
    deals = []
    for owner, stage, amount in (
        (rep, "Offer", "1000"),
        (rep, "Meeting & demo", "4000"),
        (other, "Negotiation", "500"),
    ):
        deals.append(
            pipeline_services.deal_create(
                actor=owner,
                organization=OrganizationFactory(),
                title="Deal",
                stage=stages[stage],
                amount=amount,
                expected_close=today + timedelta(days=3),
                at=at(today - timedelta(days=60)),
            )
        )
    for i in range(4):
        d = pipeline_services.deal_create(
            actor=rep,
            organization=OrganizationFactory(),
            title="Old",
            stage=stages["Offer"],
            amount="100",
            expected_close=today - timedelta(days=40),
            at=at(today - timedelta(days=100)),
        )
        if i % 2:
            pipeline_services.deal_move(
                deal=d, to_stage=stages["Retention"], actor=rep, at=at(today - timedelta(days=50))
            )
        else:
            pipeline_services.deal_mark_lost(deal=d, reason=lost_reason(), actor=rep, at=at(today - timedelta(days=50)))
    return deals


def test_refresh_writes_one_run_with_every_level_and_method(book, pipeline, rep, team):
    result = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert result["written"] == result["rows"] > 0
    rows = ForecastSnapshot.objects.filter(pipeline=pipeline)
    assert rows.values("run").distinct().count() == 1
    assert set(rows.values_list("method", flat=True)) == {
        "weighted",
        "learned",
        "montecarlo",
        "commit",
        "best_case",
        "pipeline",
        "new_business",
    }
    assert (
        rows.filter(owner=rep).exists()
        and rows.filter(team=team).exists()
        and rows.filter(team=None, owner=None).exists()
    )
    month = date.today().replace(day=1)
    total = rows.get(team=None, owner=None, method="weighted", period_kind="month", period_start=month, currency="EUR")
    by_owner = sum(
        r.expected
        for r in rows.filter(
            owner__isnull=False, method="weighted", period_kind="month", period_start=month, currency="EUR"
        )
    )
    assert total.expected == by_owner == Decimal("1000") * Decimal("0.6") + Decimal("4000") * Decimal("0.4") + 400


def test_refresh_again_the_same_day_writes_nothing(book, pipeline):
    first = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    again = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert again["written"] == 0 and again["digest"] == first["digest"]
    volatile = {"computed_at", "written"}
    assert {k: v for k, v in again.items() if k not in volatile} == {
        k: v for k, v in first.items() if k not in volatile
    }
    assert json.loads(json.dumps(first)) == first
    assert first["by_currency"] == {"EUR": {"weighted": "2600.00", "total": "5500.00"}}
    assert ForecastSnapshot.objects.count() == first["rows"]


def test_a_change_appends_a_new_run_and_leaves_the_old_rows_alone(book, pipeline, rep):
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    old = list(ForecastSnapshot.objects.order_by("pk").values())
    pipeline_services.deal_update(deal=book[0], actor=rep, amount="3000")
    second = services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert second["written"] > 0
    assert list(ForecastSnapshot.objects.filter(pk__in=[r["id"] for r in old]).order_by("pk").values()) == old
    latest = snapshots.latest_snapshots(pipeline_id=pipeline.pk)
    assert latest.values("run").distinct().count() == 1 and latest.first().digest == second["digest"]


def test_the_summary_is_cached_only_after_commit(book, pipeline, django_capture_on_commit_callbacks):
    cache.delete(f"forecast:pipeline:{pipeline.pk}")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert cache.get(f"forecast:pipeline:{pipeline.pk}") is None
    for callback in callbacks:
        callback()
    assert cache.get(f"forecast:pipeline:{pipeline.pk}")["by_currency"]["EUR"]["total"] == "5500.00"


def test_a_failed_refresh_writes_nothing(book, pipeline, monkeypatch):
    original = ForecastSnapshot.objects.bulk_create

    def half(rows, **kw):
        original(list(rows)[:5], **kw)
        raise RuntimeError("connection lost")

    monkeypatch.setattr(ForecastSnapshot.objects, "bulk_create", half)
    with pytest.raises(RuntimeError):
        services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    assert not ForecastSnapshot.objects.exists()


def test_the_refresh_task_calls_the_entry_point_and_is_safe_to_repeat(book, pipeline):
    tasks.forecast_refresh.apply(args=[pipeline.pk]).get()
    count = ForecastSnapshot.objects.count()
    tasks.forecast_refresh.apply(args=[pipeline.pk]).get()
    assert count > 0 and ForecastSnapshot.objects.count() == count


def test_the_refresh_query_count_does_not_grow_with_the_deals(
    book, pipeline, rep, stages, django_assert_max_num_queries
):
    # The first run of a pipeline without a stored fit fits the history once (four more queries
    # to load it, two to keep the fit); later runs read the stored fit.
    for _ in range(15):
        pipeline_services.deal_create(actor=rep, organization=OrganizationFactory(), title="More", stage=stages["Offer"], amount="10")
    with django_assert_max_num_queries(22):
        services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)


def test_daily_tasks_are_scheduled_and_registered(book, pipeline):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "forecasting.tasks.forecast_snapshot_daily",
        "forecasting.tasks.learned_probabilities_refit_all",
    } <= scheduled
    app.loader.import_default_modules()  # what a worker does when it starts: every app's tasks module
    for name in scheduled:
        assert name in app.tasks
    assert tasks.forecast_snapshot_daily.apply().get() > 0
    assert tasks.forecast_snapshot_daily.apply().get() == 0


def test_learned_probabilities_are_kept_next_to_the_configured_ones(book, pipeline, stages):
    rows = services.learned_probabilities_refit(pipeline_id=pipeline.pk)
    assert len(rows) == 6
    offer = LearnedProbability.objects.get(stage=stages["Offer"])
    # Two of four closed Offer deals were won: (4 × 0.5 + 12 × 0.6) / 16.
    assert offer.configured == Decimal("0.6000") and offer.closed_deals == 4 and offer.history_only == Decimal("0.5000")
    assert offer.learned == Decimal("0.5750")
    assert services.learned_probabilities_refit(pipeline_id=pipeline.pk) == []
    assert tasks.learned_probabilities_refit_all.apply().get() == 0


def test_quota_attainment_per_rep_and_team(book, rep, team, stages):
    start = date.today().replace(day=1)
    Quota.objects.create(user=rep, period_kind="month", period_start=start, currency="EUR", amount=Decimal("2000"))
    Quota.objects.create(team=team, period_kind="month", period_start=start, currency="EUR", amount=Decimal("10000"))
    pipeline_services.deal_move(deal=book[0], to_stage=stages["Retention"], actor=rep)
    result = {(a.quota.user_id, a.quota.team_id): a for a in quotas.quota_attainment(kind="month", start=start)}
    assert result[(rep.pk, None)].won == Decimal("1000") and result[(rep.pk, None)].ratio == 0.5
    assert result[(None, team.pk)].won == Decimal("1000") and result[(None, team.pk)].ratio == 0.1


def test_accuracy_compares_the_forecast_at_each_period_start_with_what_was_won(rep, stages, pipeline):
    # A deal in Offer since January, expected in February, won in February.
    d = pipeline_services.deal_create(
        actor=rep,
        organization=OrganizationFactory(),
        title="Won",
        stage=stages["Offer"],
        amount="1000",
        expected_close=date(2025, 2, 20),
        at=at(date(2025, 1, 10)),
    )
    pipeline_services.deal_move(deal=d, to_stage=stages["Retention"], actor=rep, at=at(date(2025, 2, 18)))
    acc = accuracy.forecast_accuracy(
        method="weighted", kind="month", periods=2, pipeline_id=pipeline.pk, today=date(2025, 3, 5)
    )
    assert acc.periods == [  # on 2024-12-31 there was nothing to forecast yet
        {"period": "2025-02", "currency": "EUR", "forecast": 600.0, "p10": 0.0, "p90": 1000.0, "won": 1000.0},
    ]
    assert acc.wape == pytest.approx(0.4) and acc.bias == pytest.approx(-0.4)
    assert acc.by_currency == {"EUR": {"wape": pytest.approx(0.4), "bias": pytest.approx(-0.4), "coverage": 1.0}}
    assert acc.brier == pytest.approx(0.16)  # (0.6 − 1)²
    assert acc.calibration == [{"bin": "0.6–0.7", "deals": 1, "predicted": 0.6, "actual": 1.0}]


def test_large_levels_are_simulated_with_fewer_futures():
    assert montecarlo.snapshot_simulations(1_000) == montecarlo.SNAPSHOT_SIMULATIONS
    assert montecarlo.snapshot_simulations(100_000) == 500
    assert montecarlo.snapshot_simulations(10_000_000) == montecarlo.MIN_SNAPSHOT_SIMULATIONS


def _figures(rows, methods_shown):
    return {
        (r["team"], r["owner"], r["kind"], r["period_start"], r["currency"], r["method"]): (
            r["won"],
            r["expected"],
            r["p10"],
            r["p50"],
            r["p90"],
        )
        for r in rows
        if r["method"] in methods_shown
    }


def test_todays_sums_match_the_history_rebuilt_as_of_today(book, pipeline, rep, stages):
    """Today the deals' rows are their as-of state: the GROUP BY path gives the figures the history
    path gives (the learned ones up to the rounding of the stored probabilities)."""
    from forecasting.loading import load_history

    today = date.today()
    # A deal with its own probability, another called commit, one overdue, one in dollars, one won.
    pipeline_services.deal_update(deal=book[1], actor=rep, probability=25, forecast_category="commit")
    pipeline_services.deal_update(deal=book[2], actor=rep, expected_close=today - timedelta(days=45))
    pipeline_services.deal_create(
        actor=rep,
        organization=OrganizationFactory(),
        title="Dollars",
        stage=stages["Offer"],
        amount="700",
        currency="USD",
        expected_close=today + timedelta(days=70),
        at=at(today - timedelta(days=20)),
    )
    won = pipeline_services.deal_create(
        actor=rep,
        organization=OrganizationFactory(),
        title="Won",
        stage=stages["Negotiation"],
        amount="900",
        expected_close=today,
        at=at(today - timedelta(days=30)),
    )
    pipeline_services.deal_move(deal=won, to_stage=stages["Retention"], actor=rep)
    history = load_history(pipeline_id=pipeline.pk)
    from_history = snapshots.past_rows(pipeline_id=pipeline.pk, as_of=today, history=history)
    stages = sums.stage_arrays(pipeline.pk)
    model = services.forecast_model(pipeline_id=pipeline.pk, as_of=today, stages=stages)
    from_sums, summary, *_ = snapshots.today_rows(pipeline_id=pipeline.pk, as_of=today, stages=stages, model=model)
    exact = {"weighted", "commit", "best_case", "pipeline"}
    assert _figures(from_sums, exact) == _figures(from_history, exact)
    learned_sums, learned_history = _figures(from_sums, {"learned"}), _figures(from_history, {"learned"})
    assert learned_sums.keys() == learned_history.keys() and learned_sums
    for key, figures in learned_sums.items():
        assert figures == pytest.approx(learned_history[key], abs=Decimal("0.02"))
    assert {r["method"] for r in from_sums} == {r["method"] for r in from_history}
    # Both simulate the open deals once for every level: the same cells, and owners adding up.
    for rows in (from_sums, from_history):
        montecarlo = _figures(rows, {"montecarlo"})
        assert montecarlo.keys() == _figures(from_history, {"montecarlo"}).keys()
        for (team, owner, kind, start, currency, _), figures in montecarlo.items():
            if team is None and owner is None:
                owners = [f for k, f in montecarlo.items() if k[1] is not None and k[2:5] == (kind, start, currency)]
                assert figures[1] == pytest.approx(sum(f[1] for f in owners), abs=Decimal("0.01") * len(owners))
    assert summary == {
        "EUR": {"weighted": "2000.00", "total": "5500.00"},  # 1000 × 0.6 + 4000 × 0.25 (its own) + 500 × 0.8
        "USD": {"weighted": "420.00", "total": "700.00"},
    }
