"""The forecast dashboard: who sees whose numbers, filters in the URL, bounded queries; it shows
what the recompute stored and how fresh that is, and a request never computes or writes."""

import uuid
from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone, translation

from accounts.models import Team
from config.celery import app as celery_app
from forecasting import evaluation, methods, montecarlo, outlook, services, synthetic, tasks, timing, today_outlook
from forecasting.models import ForecastSnapshot, Quota
from pipeline import services as pipeline_services
from pipeline.models import Deal
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = "/forecast/"


@pytest.fixture
def deals(rep, manager, stages, team):
    """Rita (North) has a 1,000 Offer deal, Otto (South) a 7,000 Offer deal, both due today."""
    otto = UserFactory(username="otto", role="rep", team=Team.objects.create(name="South"))
    when = datetime.now(dt_timezone.utc) - timedelta(days=30)
    for owner, amount in ((rep, "1000"), (otto, "7000")):
        pipeline_services.deal_create(
            actor=owner,
            organization=OrganizationFactory(),
            title=f"Deal of {owner.username}",
            stage=stages["Offer"],
            amount=amount,
            expected_close=date.today(),
            at=when,
        )
    return otto


@pytest.fixture
def computed(deals, pipeline):
    """The forecast of those deals, as the recompute stores it."""
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    return deals


def periods(response):
    return response.context["data"]["periods"]


def test_the_dashboard_url_and_nav_link(client, rep, deals):
    client.force_login(rep)
    response = client.get(reverse("forecasting:dashboard"))
    assert reverse("forecasting:dashboard") == URL
    assert response.status_code == 200
    assert b'href="/forecast/"' in response.content and b"chart.umd.min.js" in response.content


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_rep_sees_only_their_own_numbers(client, rep, computed):
    client.force_login(rep)
    response = client.get(URL + "?period=month")
    first = periods(response)[0]
    assert first["weighted"] == 600  # only Rita's 1,000 × 60 %
    assert [r["owner"] for r in response.context["data"]["reps"]] == [str(rep)]
    assert b"Deal of otto" not in response.content


def test_a_rep_cannot_look_at_someone_elses_numbers(client, rep, computed):
    client.force_login(rep)
    assert client.get(URL + f"?owner={computed.pk}").status_code == 404
    assert client.get(URL + f"?team={computed.team_id}").status_code == 404
    assert client.get(URL + "?owner=abc").status_code == 404


def test_a_manager_sees_their_team_and_may_narrow_to_a_rep(client, manager, rep, computed):
    client.force_login(manager)
    assert periods(client.get(URL + "?period=month"))[0]["weighted"] == 600  # Otto is in another team
    assert periods(client.get(URL + f"?period=month&owner={rep.pk}"))[0]["weighted"] == 600
    assert client.get(URL + f"?owner={computed.pk}").status_code == 404


def test_an_admin_sees_everyone_and_filters_by_team(client, admin_user, rep, computed, team):
    client.force_login(admin_user)
    assert periods(client.get(URL + "?period=month"))[0]["weighted"] == 4800
    assert periods(client.get(URL + f"?period=month&team={team.pk}"))[0]["weighted"] == 600
    assert periods(client.get(URL + f"?period=month&owner={computed.pk}"))[0]["weighted"] == 4200


def test_quota_attainment_and_chance_are_shown(client, rep, deals, stages, pipeline):
    start = date.today().replace(day=1)
    Quota.objects.create(user=rep, period_kind="month", period_start=start, currency="EUR", amount=1000)
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    client.force_login(rep)
    response = client.get(URL + "?period=month")
    first = periods(response)[0]
    assert first["quota"] == 1000 and 0 < first["quota_chance"] < 1
    assert response.context["data"]["reps"][0]["quota"] == 1000


def test_the_query_count_does_not_grow_with_the_deals(client, admin_user, stages, django_assert_max_num_queries):
    synth = synthetic.generate(seed=2, months=9, deals_per_month=15)
    owners = [UserFactory(username=f"r{i}", role="rep") for i in range(3)]
    synthetic.write_to_database(synth, pipeline=stages["Offer"].pipeline, owners=owners)
    services.forecast_refresh_pipeline(pipeline_id=stages["Offer"].pipeline_id)
    client.force_login(admin_user)
    with django_assert_max_num_queries(60):
        response = client.get(URL + "?period=month")
    assert response.status_code == 200
    assert sum(f["deals"] for f in response.context["data"]["funnel"]) > 0
    assert periods(response)


def test_period_names_are_for_people_and_follow_the_language():
    from django.utils import translation

    from forecasting.display import period_name

    with translation.override("en"):
        assert period_name("2026-Q4") == "Q4 2026"
        assert period_name("2027-03") == "March 2027"
    with translation.override("de"):
        assert period_name("2026-Q1") == "Q1 2026"
        assert period_name("2027-03") == "März 2027"
    assert period_name("2027-13") == "2027-13" and period_name("next year") == "next year"


MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_dashboard_names_its_periods_in_the_users_language(client, rep, computed, language):
    rep.language = language
    rep.save(update_fields=["language"])
    client.force_login(rep)
    today = date.today()
    month = client.get(URL + "?period=month", HTTP_ACCEPT_LANGUAGE=language)
    stable = f"{today.year}-{today.month:02d}"
    assert periods(month)[0]["period"] == stable  # the data keeps its machine-readable label
    name = f"{MONTHS[language][today.month - 1]} {today.year}"
    body = month.content.decode()
    assert f'<h3 class="h6 mb-2">{name}</h3>' in body and f">{stable}<" not in body
    assert month.context["charts"]["periods"][0]["label"] == name
    quarter = client.get(URL + "?period=quarter", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    q = (today.month - 1) // 3 + 1
    assert f'<h3 class="h6 mb-2">Q{q} {today.year}</h3>' in quarter and f">{today.year}-Q{q}<" not in quarter


def _snapshot(pipeline, *, computed_at):
    from forecasting.models import ForecastSnapshot

    return ForecastSnapshot.objects.create(
        run=uuid.uuid4(), as_of=timezone.localdate(), computed_at=computed_at, pipeline=pipeline, period_kind="quarter",
        period_start=date(2026, 10, 1), method="weighted", currency="EUR", won=0, expected=0, p10=0, p50=0, p90=0,
        digest="x" * 64,
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "Figures as of {time}, 3 minutes ago"), ("de", "Zahlen berechnet {time} (vor 3 Minuten)")],
)
def test_the_dashboard_says_when_its_figures_were_computed(client, rep, deals, pipeline, language, expected):
    computed = timezone.now().replace(microsecond=0) - timedelta(minutes=3, seconds=5)
    _snapshot(pipeline, computed_at=computed)
    cache.delete(tasks.debounce_key(pipeline.pk))  # nothing changed since that recompute
    rep.language = language
    rep.save(update_fields=["language"])
    client.force_login(rep)
    body = client.get(URL, HTTP_ACCEPT_LANGUAGE=language).content.decode().replace("\xa0", " ")
    with translation.override(language):
        time = formats.time_format(timezone.localtime(computed), "TIME_FORMAT")
    assert expected.format(time=time) in body
    assert "Updating…" not in body and "Aktualisierung läuft…" not in body


def test_with_a_worker_the_dashboard_says_a_queued_recompute_is_on_its_way(
    client, rep, deals, pipeline, stages, monkeypatch, django_capture_on_commit_callbacks, outbox_worker
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(tasks.forecast_refresh, "apply_async", lambda *args, **kwargs: None)  # no broker here
    _snapshot(pipeline, computed_at=timezone.now() - timedelta(hours=1))
    deal = Deal.objects.filter(owner=rep).get()
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    client.force_login(rep)
    body = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode().replace("\xa0", " ")
    assert "Figures as of" in body and "an hour ago" in body
    assert "Updating…" in body
    german = client.get(URL, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Aktualisierung läuft…" in german


def test_in_laptop_mode_the_dashboard_shows_the_stored_figures_and_counts_the_changes_since(
    client, rep, deals, pipeline, stages, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    _snapshot(pipeline, computed_at=timezone.now() - timedelta(hours=1))
    deal = Deal.objects.filter(owner=rep).get()
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
        pipeline_services.deal_update(deal=deal.pk, actor=rep, amount="1200")
    client.force_login(rep)
    with CaptureQueriesContext(connection) as queries:
        body = client.get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode().replace("\xa0", " ")
    assert "Figures as of" in body and "an hour ago" in body and "2 changes to the deals since" in body
    assert "Updating…" not in body  # no worker: nothing is on its way
    assert ForecastSnapshot.objects.count() == 1
    assert not _writes(queries)
    german = client.get(URL, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "2 Änderungen an den Deals seitdem" in german


# --- A request reads what the recompute stored ------------------------------------------------------

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


def _never(name):
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} ran in a request of the dashboard")

    return fail


@pytest.fixture
def no_forecast_in_requests(monkeypatch):
    """Every entry point of today's forecast fails the test if a request calls it. (The accuracy of
    past periods, a learned forecast rebuilt as of each period's start, is still computed once a
    day and data version and kept in the cache; it runs no simulation.)"""
    for module, name in (
        (methods, "montecarlo"),
        (methods, "simulate_open"),
        (methods, "montecarlo_aggregate"),
        (montecarlo, "simulate_deals"),
        (montecarlo, "simulate_sums"),
        (services, "forecast_refresh_pipeline"),
        (services, "forecast_model"),
        (services, "forecast_fit"),
        (services, "history_comparison"),
        (today_outlook, "outlook_fit"),
        (today_outlook, "level_outlook"),
        (timing, "fit_timing"),
        (evaluation, "evaluate"),
        (outlook, "forecast"),
    ):
        monkeypatch.setattr(module, name, _never(f"{module.__name__}.{name}"))


@pytest.mark.parametrize("user", ["rep", "manager", "admin_user"])
@pytest.mark.parametrize("eager", [True, False])
def test_a_dashboard_request_runs_no_forecast_and_writes_nothing(
    client, computed, pipeline, user, eager, request, monkeypatch, no_forecast_in_requests
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", eager)
    cache.set(tasks.debounce_key(pipeline.pk), 1)  # a change is pending: still nothing computed here
    client.force_login(request.getfixturevalue(user))
    with CaptureQueriesContext(connection) as queries:
        for period in ("month", "quarter"):
            assert client.get(URL + f"?period={period}").status_code == 200
    assert _writes(queries) == []


def test_the_dashboard_shows_the_stored_figures_of_the_scope(client, admin_user, rep, computed, pipeline):
    rows = ForecastSnapshot.objects.filter(owner=rep, period_kind="month", period_start=date.today().replace(day=1))
    stored = {r.method: r for r in rows}
    assert set(stored) >= {"weighted", "learned", "montecarlo"}
    client.force_login(admin_user)
    first = periods(client.get(URL + f"?period=month&owner={rep.pk}"))[0]
    assert first["weighted"] == float(stored["weighted"].expected) == 600
    assert first["learned"] == float(stored["learned"].expected)
    for name in ("expected", "p10", "p50", "p90"):
        assert first[name] == float(getattr(stored["montecarlo"], name))
    # Stored figures stay what they were until the next recompute, whatever happens to the deals.
    Deal.objects.filter(owner=rep).update(amount=5000)
    assert periods(client.get(URL + f"?period=month&owner={rep.pk}"))[0]["weighted"] == 600


def test_a_manager_without_a_filter_sees_the_stored_figures_of_their_people(client, manager, rep, computed):
    client.force_login(manager)
    response = client.get(URL + "?period=month")
    assert response.context["filters"].snapshot_scope() == {"team_id": None, "owner_id": None, "manager_id": manager.pk}
    assert periods(response)[0]["weighted"] == 600
    assert [r["owner"] for r in response.context["data"]["reps"]] == [str(rep)]


@pytest.mark.parametrize(("language", "expected"), [("en", "No forecast has been computed"), ("de", "Für diese Pipeline wurde noch keine Prognose berechnet")])
def test_before_the_first_recompute_the_dashboard_says_how_the_forecast_gets_computed(
    client, manager, deals, language, expected, no_forecast_in_requests
):
    client.force_login(manager)
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200 and periods(response) == []
    body = response.content.decode()
    assert expected in body and 'action="/forecast/recompute/"' in body
    assert not ForecastSnapshot.objects.exists()


def test_reps_get_no_recompute_button(client, rep, computed):
    client.force_login(rep)
    assert 'action="/forecast/recompute/"' not in client.get(URL).content.decode()


def test_a_manager_recomputes_the_forecast_now_and_returns_to_the_same_view(
    client, manager, rep, deals, pipeline, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/forecast/recompute/", {"pipeline": pipeline.pk, "period": "month", "owner": rep.pk, "team": ""}
        )
    assert response.status_code == 302
    assert response["Location"] == f"/forecast/?pipeline={pipeline.pk}&period=month&owner={rep.pk}"
    assert ForecastSnapshot.objects.filter(pipeline=pipeline, manager=manager).exists()  # laptop mode: done
    page = client.get(response["Location"])
    assert periods(page)[0]["weighted"] == 600 and "being recomputed" in page.content.decode()


def test_with_a_worker_the_recompute_is_queued_after_commit(
    client, manager, deals, pipeline, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    sent = []
    monkeypatch.setattr(tasks.forecast_refresh, "delay", lambda *args: sent.append(args))
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post("/forecast/recompute/", {"pipeline": pipeline.pk}).status_code == 302
    assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [(pipeline.pk,)] and not ForecastSnapshot.objects.exists()


def test_only_managers_and_admins_recompute_and_only_pipelines_they_see(client, rep, manager, pipeline):
    from pipeline.models import Pipeline

    client.force_login(rep)
    assert client.post("/forecast/recompute/", {"pipeline": pipeline.pk}).status_code == 403
    client.force_login(manager)
    assert client.get("/forecast/recompute/").status_code == 405
    assert client.post("/forecast/recompute/", {"pipeline": "abc"}).status_code == 404
    hidden = Pipeline.objects.create(name="Hidden", is_active=False)
    assert client.post("/forecast/recompute/", {"pipeline": hidden.pk + 1000}).status_code == 404
    assert not ForecastSnapshot.objects.exists()


def test_the_dashboard_reads_a_bounded_number_of_queries(
    client, admin_user, manager, pipeline, stages, team, django_assert_max_num_queries
):
    owners = [UserFactory(username=f"r{i}", role="rep", team=team if i % 2 else None) for i in range(6)]
    synthetic.write_to_database(
        synthetic.generate(seed=3, months=12, deals_per_month=40), pipeline=pipeline, owners=owners
    )
    services.forecast_refresh_pipeline(pipeline_id=pipeline.pk)
    for user in (admin_user, manager):
        client.force_login(user)
        client.get(URL)  # the cache of the funnel, stage history and accuracy
        with django_assert_max_num_queries(22):
            assert client.get(URL).status_code == 200


@pytest.mark.parametrize(
    ("language", "summary", "median"),
    [
        ("en", "Why do these figures differ?", "P50 is the median"),
        ("de", "Warum unterscheiden sich diese Zahlen?", "P50 ist der Median"),
    ],
)
def test_the_period_cards_explain_what_each_method_assumes_in_the_users_language(
    client, rep, computed, language, summary, median
):
    rep.language = language
    rep.save(update_fields=["language"])
    client.force_login(rep)
    body = client.get(URL, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    notes = body[body.index('id="sf-method-notes"') : body.index("</details>", body.index('id="sf-method-notes"'))]
    assert summary in notes and median in notes
    # Mean against median, and what each method assumes, stand beside the figures.
    assert notes.count("<dt>") == 5
