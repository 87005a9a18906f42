"""The forecast dashboard shows what today's recompute stored (from database sums and the stored
fit): the same figures as the forecast rebuilt from the history as of today; a query count that does
not grow with the deals, and a cached accuracy that follows the deals once they change."""

from datetime import datetime, time, timedelta, timezone as dt_timezone

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from forecasting import accuracy, methods, montecarlo, outlook, runs, selectors, services, snapshots, synthetic, today_outlook
from forecasting.models import Method, Quota
from forecasting.periods import MONTH, QUARTER, period_of_date, period_start
from pipeline import services as pipeline_services
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/forecast/"


@pytest.fixture
def owners(pipeline):
    """Three reps, two of them in team North, with a synthetic history of about 270 deals."""
    north = Team.objects.create(name="North")
    people = [
        UserFactory(username="r0", role="rep", team=north),
        UserFactory(username="r1", role="rep", team=north),
        UserFactory(username="r2", role="rep"),
    ]
    synth = synthetic.generate(seed=5, months=18, deals_per_month=15)
    synthetic.write_to_database(synth, pipeline=pipeline, owners=people)
    return people


def before_first_period(kind, today):
    from forecasting.periods import period_label

    return period_label(period_of_date(today, kind), kind)


def _history_figures(pipeline, owner_ids, kind, today, quota=None):
    """Every method run on the whole history as of today, the Monte Carlo with the snapshot's seed
    and number of futures."""
    from forecasting.loading import load_history

    history = load_history(pipeline_id=pipeline.pk)
    simulations = montecarlo.snapshot_simulations(pipeline.deals.filter(status="open").count())
    seed = snapshots.snapshot_seed(pipeline.pk, today)
    by_method = {
        method: runs.forecast_run(
            as_of=today,
            method=method,
            kind=kind,
            horizon=selectors.DASHBOARD_PERIODS,
            pipeline_id=pipeline.pk,
            owner_ids=owner_ids,
            simulations=simulations,
            seed=seed,
            quota=quota,
            history=history,
        )
        for method in (Method.WEIGHTED, Method.LEARNED, Method.MONTECARLO)
    }
    # Learned and Monte Carlo as the `forecast` command computes them (timing from the history, new
    # business), over the periods the dashboard shows (from the one holding today).
    book = by_method[Method.WEIGHTED].book
    common = {"kind": kind, "first_period": period_of_date(today, kind), "horizon": selectors.DASHBOARD_PERIODS}
    learned = outlook.forecast(history, book, method="learned", **common)
    mc = outlook.forecast(history, book, method="montecarlo", simulations=simulations, seed=seed, quota=quota, **common)
    if owner_ids is not None:
        # A part of the pipeline: its deals' chances as the whole pipeline's forecast gives them
        # (the timing model and how far it is trusted are the pipeline's), and each owner's new
        # business as `forecast --owner` gives it.
        full = runs.forecast_run(as_of=today, method=Method.WEIGHTED, kind=kind, pipeline_id=pipeline.pk,
                                 history=history).book  # fmt: skip
        parts = outlook.Parts(history, full, **common)
        mine = np.isin(full.owner_id, owner_ids)
        pipeline_part = np.array(
            [[np.sum((parts.amount * parts.landing[:, j])[mine & (parts.cur == parts.currencies.index(c))])
              for j in range(common["horizon"])] for c in learned.currencies]
        )  # fmt: skip
        new = sum(
            outlook.forecast(history, full.subset(full.owner_id == o), method="learned", **common).extra["new_business"]
            for o in owner_ids
        )
        learned.expected = learned.won + pipeline_part + new
        learned.extra["new_business"] = new
    rows = {}
    for c, currency in enumerate(mc.currencies):
        for j, label in enumerate(mc.period_labels()):
            rows[(label, currency)] = {
                "won": mc.won[c, j],
                "weighted": by_method[Method.WEIGHTED].result.expected[c, j],
                "learned": learned.expected[c, j],
                "new_business": learned.extra["new_business"][c, j],
                "expected": mc.expected[c, j],
                "p10": mc.p10[c, j],
                "p50": mc.p50[c, j],
                "p90": mc.p90[c, j],
                "quota_chance": None if mc.quota_chance is None else mc.quota_chance[c, j],
            }
    return rows


@pytest.mark.parametrize("kind", [MONTH, QUARTER])
@pytest.mark.parametrize("scope", ["all", "team", "owner"])
def test_the_figures_of_today_equal_the_forecast_rebuilt_from_the_history(pipeline, owners, kind, scope):
    today = timezone.localdate()
    owner_ids = {"all": None, "team": [owners[0].pk, owners[1].pk], "owner": [owners[2].pk]}[scope]
    quota = None
    if scope == "owner":
        start = period_start(period_of_date(today, kind), kind)
        Quota.objects.create(user=owners[2], period_kind=kind, period_start=start, currency="EUR", amount=40000)
        quota = {"EUR": [40000.0, float("nan"), float("nan")]}
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    before = _history_figures(pipeline, owner_ids, kind, today, quota)
    owner_id = owner_ids[0] if scope == "owner" else None
    team_id = owners[0].team_id if scope == "team" else None
    filters = selectors.Filters(pipeline=pipeline, kind=kind, owner_ids=owner_ids, owner_id=owner_id, team_id=team_id)
    rows = selectors.dashboard(None, filters, today=today)["periods"]

    # The snapshot keeps the currencies a scope has figures in (the history's run lists every
    # currency of its deals, lost ones too).
    assert {(r["period"], r["currency"]) for r in rows} <= set(before) and rows
    assert any(r["weighted"] > r["won"] for r in rows)
    for row in rows:
        expected = before[(row["period"], row["currency"])]
        for name in ("won", "weighted"):
            assert row[name] == pytest.approx(expected[name], abs=0.01)
        # The stored fit keeps the timing model to six digits and new business to the cent: the
        # pipeline's figures are the `forecast` command's.
        same = {"rel": 1e-4, "abs": 0.05}
        assert row["learned"] == pytest.approx(expected["learned"], **same)
        assert row["new_business"] == pytest.approx(expected["new_business"], **same)
        # The simulation draws other futures (one for every level, so that the levels add up):
        # within the sampling error of the command's for the pipeline, of the learned expectation
        # (what the simulation's mean estimates) for a part of it. (An owner with a dozen open
        # deals: a fifth apart.)
        close = {"rel": 0.1} if scope == "all" else {"rel": 0.25}
        assert row["expected"] == pytest.approx(expected["expected" if scope == "all" else "learned"], **close)
        assert row["won"] <= row["p10"] <= row["p50"] <= row["p90"]
        if scope == "all":
            assert [row[n] for n in ("p10", "p50", "p90")] == pytest.approx(
                [expected[n] for n in ("p10", "p50", "p90")], **close
            )
        if expected["quota_chance"] is None or np.isnan(expected["quota_chance"]):
            assert row["quota_chance"] is None
        else:
            assert row["quota"] == 40000 and row["period"] == before_first_period(kind, today)
            assert row["quota_chance"] == pytest.approx(expected["quota_chance"], abs=0.1)


def test_on_sums_beyond_the_threshold_the_simulation_stays_close(pipeline, owners, monkeypatch):
    today = timezone.localdate()
    filters = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=None)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    by_deal = {(r["period"], r["currency"]): r for r in selectors.dashboard(None, filters, today=today)["periods"]}
    monkeypatch.setattr(montecarlo, "EXACT_MONTECARLO_MAX_DEALS", 0)
    monkeypatch.setattr(today_outlook, "EXACT_MAX_DEALS", 0)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    by_sums = selectors.dashboard(None, filters, today=today)["periods"]
    assert {(r["period"], r["currency"]) for r in by_sums} == set(by_deal)
    for row in by_sums:
        theirs = by_deal[(row["period"], row["currency"])]
        assert row["weighted"] == theirs["weighted"] and row["learned"] == theirs["learned"]
        # A normal per future on sums: the same order of figures (with 16 open deals, not the same).
        assert row["won"] <= row["p10"] <= row["p50"] <= row["p90"]
        assert row["p10"] <= row["expected"] <= row["p90"]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_query_count_is_the_same_for_more_deals(
    client, pipeline, owners, admin_user, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    url = URL + "?period=month"
    # A deal due this month, so that the table of reps has a row from the start.
    pipeline_services.deal_create(
        actor=owners[0], organization=OrganizationFactory(), title="Due today", pipeline=pipeline, amount="900",
        expected_close=timezone.localdate(),
    )
    _queries(client, url)  # the first view of the day keeps a fit, computes and keeps the accuracy
    few = _queries(client, url)
    more = synthetic.generate(seed=9, months=18, deals_per_month=60)
    with django_capture_on_commit_callbacks(execute=True):
        synthetic.write_to_database(more, pipeline=pipeline, owners=owners)
    _queries(client, url)  # the deals changed: the accuracy is computed again, once
    many = _queries(client, url)
    assert few == many <= 30


def test_the_accuracy_is_computed_once_and_again_after_a_deal_changed(
    pipeline, stages, rep, monkeypatch, django_capture_on_commit_callbacks
):
    """A deal won in a closed period changes the accuracy of that period once the deals changed."""
    today = timezone.localdate()
    calls = []
    real = accuracy.forecast_accuracy
    monkeypatch.setattr(accuracy, "forecast_accuracy", lambda **kw: calls.append(kw) or real(**kw))
    previous = period_of_date(today, MONTH) - 1
    start = period_start(previous, MONTH)
    when = datetime.combine(start + timedelta(days=3), time(10), tzinfo=dt_timezone.utc)
    opened = datetime.combine(start - timedelta(days=20), time(10), tzinfo=dt_timezone.utc)
    deal = pipeline_services.deal_create(
        actor=rep, organization=OrganizationFactory(), title="Closes last month", stage=stages["Offer"], amount="5000",
        expected_close=start + timedelta(days=10), at=opened,
    )
    filters = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=[rep.pk], owner_id=rep.pk)

    def won_last_month():
        accuracy = selectors.dashboard(rep, filters, today=today)["accuracy"]
        label = [r for r in accuracy.periods if r["period"] == accuracy.periods[-1]["period"]]
        return sum(r["won"] for r in label)

    assert won_last_month() == 0 and len(calls) == 1
    assert won_last_month() == 0 and len(calls) == 1  # from the cache
    with django_capture_on_commit_callbacks(execute=True):  # deals_changed is sent after the commit
        pipeline_services.deal_move(deal=deal.pk, to_stage=stages["Retention"], actor=rep, at=when)
    assert won_last_month() == 5000 and len(calls) == 2
    assert won_last_month() == 5000 and len(calls) == 2


def test_a_drag_between_open_stages_keeps_the_accuracy_and_everything_else_renews_it(
    pipeline, owners, stages, monkeypatch, django_capture_on_commit_callbacks
):
    """An open deal moved now between open stages changes nothing before today and no outcome:
    the cached accuracy (the slow figure on a big pipeline) stays, and equals a fresh computation.
    A win, a loss, a reopening, a move out of won, a backdated move or an edit renew it."""
    from pipeline.models import Deal, DealStatus, LostReason

    today = timezone.localdate()
    everyone = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=None)
    calls = []
    real = accuracy.forecast_accuracy
    monkeypatch.setattr(accuracy, "forecast_accuracy", lambda **kw: calls.append(kw) or real(**kw))
    open_deals = Deal.objects.filter(
        pipeline=pipeline, status=DealStatus.OPEN, stage__in=[stages["Qualification"], stages["Meeting & demo"]]
    ).order_by("pk")
    deal = open_deals.first()
    before = selectors.dashboard_accuracy(everyone, today=today)
    assert len(calls) == 1

    def change(fn):
        with django_capture_on_commit_callbacks(execute=True):
            fn()
        return selectors.dashboard_accuracy(everyone, today=today)

    target = stages["Meeting & demo"] if deal.stage == stages["Qualification"] else stages["Qualification"]
    kept = change(lambda: pipeline_services.deal_move(deal=deal.pk, to_stage=target, actor=owners[0]))
    assert len(calls) == 1 and kept.periods == before.periods
    monkeypatch.setattr(accuracy, "forecast_accuracy", real)
    selectors.data_version_renew(pipeline.pk)  # nothing cached: computed afresh, the same
    assert selectors.dashboard_accuracy(everyone, today=today).periods == kept.periods
    monkeypatch.setattr(accuracy, "forecast_accuracy", lambda **kw: calls.append(kw) or real(**kw))
    selectors.dashboard_accuracy(everyone, today=today)
    calls.clear()

    other = open_deals.exclude(pk=deal.pk).first()
    yesterday = timezone.now() - timedelta(days=1)
    reason = LostReason.objects.filter(is_active=True).first()
    renewing = [
        lambda: pipeline_services.deal_move(deal=other.pk, to_stage=target, actor=owners[0], at=yesterday),
        lambda: pipeline_services.deal_update(deal=other.pk, actor=owners[0], next_step="Call the buyer"),
        lambda: pipeline_services.deal_move(deal=deal.pk, to_stage=stages["Retention"], actor=owners[0]),
        lambda: pipeline_services.deal_move(deal=deal.pk, to_stage=stages["Offer"], actor=owners[0]),
        lambda: pipeline_services.deal_mark_lost(deal=deal.pk, reason=reason, actor=owners[0]),
        lambda: pipeline_services.deal_reopen(deal=deal.pk, actor=owners[0]),
    ]
    for number, fn in enumerate(renewing, start=1):
        change(fn)
        assert len(calls) == number, number


def test_the_accuracy_is_kept_per_scope_and_day(pipeline, owners, monkeypatch):
    calls = []
    real = accuracy.forecast_accuracy
    monkeypatch.setattr(accuracy, "forecast_accuracy", lambda **kw: calls.append(kw) or real(**kw))
    today = timezone.localdate()
    mine = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=[owners[0].pk], owner_id=owners[0].pk)
    theirs = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=[owners[1].pk], owner_id=owners[1].pk)
    a = selectors.dashboard_accuracy(mine, today=today)
    b = selectors.dashboard_accuracy(theirs, today=today)
    assert len(calls) == 2 and a.periods != b.periods  # one rep's accuracy is never another's
    selectors.dashboard_accuracy(mine, today=today)
    assert len(calls) == 2
    selectors.dashboard_accuracy(mine, today=today + timedelta(days=1))
    assert len(calls) == 3


def test_the_stuck_limits_are_the_percentile_of_the_won_deals_times(pipeline, owners):
    from django.db.models import F

    from pipeline.models import DealStatus, StageChange

    durations = (
        StageChange.objects.filter(
            deal__pipeline=pipeline,
            deal__status=DealStatus.WON,
            from_stage__isnull=False,
            time_in_previous__isnull=False,
        )
        .exclude(from_stage=F("to_stage"))
        .values_list("from_stage_id", "time_in_previous")
    )
    by_stage = {}
    for stage_id, spent in durations:
        by_stage.setdefault(stage_id, []).append(spent.total_seconds())
    expected = {s: float(np.percentile(v, selectors.STUCK_PERCENTILE)) for s, v in by_stage.items() if len(v) >= 5}
    limits = selectors._won_time_percentiles(pipeline, selectors.STUCK_PERCENTILE, at_least=5)
    assert len(expected) >= 3 and limits.keys() == expected.keys()
    for stage_id, seconds in expected.items():
        assert limits[stage_id] == pytest.approx(seconds, abs=1e-6)


def test_after_a_change_the_worker_computes_the_accuracy_of_the_scopes_looked_at(
    pipeline, owners, monkeypatch, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    mine = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=[owners[0].pk], owner_id=owners[0].pk)
    everyone = selectors.Filters(pipeline=pipeline, kind=QUARTER, owner_ids=None)
    before = selectors.dashboard_accuracy(mine, today=today)
    selectors.dashboard_accuracy(everyone, today=today)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_create(
            actor=owners[0], organization=OrganizationFactory(), title="New", pipeline=pipeline, amount="900", expected_close=today
        )
    assert selectors.accuracy_warm(pipeline.pk, today=today) == 2  # both scopes, for the new data

    calls = []
    monkeypatch.setattr(accuracy, "forecast_accuracy", lambda **kw: calls.append(kw))
    assert selectors.dashboard_accuracy(mine, today=today).periods == before.periods
    selectors.dashboard_accuracy(everyone, today=today)
    assert calls == []  # both found in the cache
    assert selectors.accuracy_warm(pipeline.pk, today=today) == 0  # nothing left to do


def test_the_funnel_and_stage_figures_follow_the_deals_once_they_changed(
    pipeline, stages, rep, django_capture_on_commit_callbacks
):
    filters = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=[rep.pk], owner_id=rep.pk)
    today = timezone.localdate()

    def reached(name):
        data = selectors.dashboard(rep, filters, today=today)
        return next(r["deals"] for r in data["funnel"] if r["stage"] == name)

    with django_capture_on_commit_callbacks(execute=True):
        deal = pipeline_services.deal_create(
            actor=rep, organization=OrganizationFactory(), title="A", stage=stages["Offer"], amount="100", expected_close=today
        )
    assert reached("Offer") == 1 and reached("Negotiation") == 0
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_move(deal=deal.pk, to_stage=stages["Negotiation"], actor=rep)
    assert reached("Negotiation") == 1
    stages["Negotiation"].name = "Closing talks"  # a renamed stage shows at once (no deal changed)
    stages["Negotiation"].save()
    assert reached("Closing talks") == 1


def test_the_accuracy_task_runs_once_at_a_time_per_pipeline(pipeline, owners):
    from forecasting import tasks

    everyone = selectors.Filters(pipeline=pipeline, kind=MONTH, owner_ids=None)
    selectors.dashboard_accuracy(everyone, today=timezone.localdate())
    selectors.data_version_renew(pipeline.pk)  # the deals changed
    other_run = tasks.accuracy_warm_lock(pipeline.pk)
    assert other_run.acquire()  # another run is on it
    assert tasks.forecast_accuracy_warm(pipeline.pk) == 0
    other_run.release()
    assert tasks.forecast_accuracy_warm(pipeline.pk) == 1


@pytest.mark.django_db
def test_the_funnel_shows_no_drop_off_where_deals_entered_the_next_stage_directly(rep, pipeline, stages):
    def create(stage, title):
        pipeline_services.deal_create(
            actor=rep, organization=OrganizationFactory(), title=title, stage=stage, amount="1000",
            expected_close=None,
        )  # fmt: skip

    create(stages["Prospecting"], "Found")
    create(stages["Prospecting"], "Found too")
    create(stages["Qualification"], "Checked")
    create(stages["Meeting & demo"], "Shown")
    for i in range(3):  # an import that knows only the stage each deal was created in
        create(stages["Offer"], f"Offered {i}")
    rows = {r["stage"]: r for r in selectors.funnel(pipeline.deals.all(), pipeline)}
    assert rows["Prospecting"]["deals"] == 2 and rows["Prospecting"]["drop_off"] == pytest.approx(0.5)
    assert rows["Qualification"]["drop_off"] == 0  # as many reached the next stage: none dropped off
    assert rows["Meeting & demo"]["deals"] == 1 and rows["Offer"]["deals"] == 3
    assert rows["Meeting & demo"]["drop_off"] is None
    assert rows["Offer"]["drop_off"] == 1 and rows["Retention"]["drop_off"] is None
