"""GET /api/v1/forecast/: won and expected revenue per period and currency, scoped like the
forecast dashboard, its parameters validated; through the forecasting engine where installed."""
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.forecast import period_containing, periods
from forecasting import services as forecasting_services
from pipeline.models import DealStatus
from tests.api.conftest import client_for
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def without_engine(monkeypatch):
    """The embedded weighted forecast, as in an installation without the forecasting engine."""
    monkeypatch.delattr(forecasting_services, "forecast_run", raising=False)


def test_periods_are_calendar_months_and_quarters():
    from datetime import date

    assert period_containing(date(2026, 11, 27), "month").key == "2026-11"
    q = period_containing(date(2026, 11, 27), "quarter")
    assert (q.key, q.start, q.end) == ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert [p.key for p in periods(date(2026, 12, 5), "month", 3)] == ["2026-12", "2027-01", "2027-02"]
    assert periods(date(2024, 2, 10), "month", 1)[0].end == date(2024, 2, 29)


def test_weighted_forecast_per_period_and_currency(without_engine, rep, teammate, manager, stages, other_rep):
    today = timezone.localdate()
    this_month, next_month = periods(today, "month", 2)
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), expected_close=this_month.end)  # 60 %
    DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("500"), expected_close=today - timedelta(days=40))  # overdue, 80 %
    DealFactory(owner=teammate, stage=stages["Offer"], amount=Decimal("200"), currency="USD", expected_close=next_month.start, probability=50)
    DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("300"), expected_close=None)  # undated
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("999"), expected_close=today, status=DealStatus.LOST, lost_reason=lost_reason())
    DealFactory(owner=rep, stage=stages["Retention"], amount=Decimal("250"), status=DealStatus.WON, closed_at=timezone.now())
    DealFactory(owner=other_rep, stage=stages["Offer"], amount=Decimal("7777"), expected_close=today)  # another team

    body = client_for(manager).get("/api/v1/forecast/", {"method": "weighted", "period": "month", "horizon": 2}).json()
    assert (body["method"], body["period"], body["as_of"]) == ("weighted", "month", today.isoformat())
    first, second = body["periods"]
    assert first["period"] == this_month.key
    assert first["amounts"] == [
        {"currency": "EUR", "won": "250.00", "expected": "1000.00", "p10": "1000.00", "p50": "1000.00", "p90": "1000.00"}
    ]
    assert [(a["currency"], a["expected"], a["won"]) for a in second["amounts"]] == [("USD", "100.00", "0.00")]

    # A rep's forecast is their own deals only, as on the dashboard (not the teammate's USD deal).
    mine = client_for(rep).get("/api/v1/forecast/", {"horizon": 2}).json()
    assert mine["periods"][1]["amounts"] == []
    assert mine["periods"][0]["amounts"][0]["expected"] == "1000.00"


def test_quarters(without_engine, rep, stages):
    today = timezone.localdate()
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100"), expected_close=today)
    body = client_for(rep).get("/api/v1/forecast/", {"period": "quarter", "horizon": 4}).json()
    assert len(body["periods"]) == 4 and body["periods"][0]["period"].endswith(f"Q{(today.month - 1) // 3 + 1}")
    assert body["periods"][0]["amounts"][0]["expected"] == "60.00"


@pytest.mark.parametrize("query, code", [({"method": "montecarlo"}, "method_unavailable"),
                                         ({"as_of": "2020-01-01"}, "as_of_unavailable")])
def test_without_the_engine_what_it_cannot_answer_is_refused_not_guessed(without_engine, rep, pipeline, query, code):
    response = client_for(rep).get("/api/v1/forecast/", query)
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize(
    "query, field",
    [({"method": "magic"}, "method"), ({"period": "week"}, "period"), ({"as_of": "yesterday"}, "as_of"),
     ({"as_of": "2026-02-30"}, "as_of"), ({"horizon": 0}, "horizon"), ({"horizon": 1000}, "horizon"),
     ({"pipeline": 99999}, "pipeline")],
)
def test_bad_parameters_are_400_with_the_field(rep, pipeline, query, field):
    response = client_for(rep).get("/api/v1/forecast/", query)
    assert response.status_code == 400 and field in response.json()


def test_a_future_as_of_is_refused(rep, pipeline):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client_for(rep).get("/api/v1/forecast/", {"as_of": tomorrow.isoformat()})
    assert response.status_code == 400 and response.json()["code"] == "as_of_future"


def test_forecast_needs_sign_in(pipeline):
    assert APIClient().get("/api/v1/forecast/").status_code == 401


def test_weighted_forecast_runs_a_fixed_number_of_queries(without_engine, rep, stages, django_assert_max_num_queries):
    for i in range(20):
        DealFactory(owner=rep, stage=stages["Offer"], expected_close=timezone.localdate() + timedelta(days=20 * i))
    client = client_for(rep)
    client.get("/api/v1/forecast/")
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/forecast/", {"horizon": 12}).status_code == 200


# --- Through the forecasting engine ----------------------------------------------------------------


@dataclass
class _FakeResult:
    labels: list

    def rows(self):
        return [
            {"period": label, "currency": "EUR", "won": Decimal("1.00"), "expected": Decimal("10.00"),
             "p10": Decimal("5.00"), "p50": Decimal("10.00"), "p90": Decimal("15.00"), "quota_chance": 0.5}
            for label in self.labels
        ]


def test_the_engine_is_asked_with_the_callers_scope_and_its_rows_are_returned(monkeypatch, rep, manager, teammate, admin_user, pipeline):
    calls = []

    def fake_forecast_run(**kwargs):
        calls.append(kwargs)
        labels = [p.key for p in periods(kwargs["as_of"], kwargs["kind"], kwargs["horizon"])]
        return type("Run", (), {"result": _FakeResult(labels)})()

    monkeypatch.setattr(forecasting_services, "forecast_run", fake_forecast_run, raising=False)
    as_of = timezone.localdate() - timedelta(days=100)
    body = client_for(manager).get(
        "/api/v1/forecast/", {"method": "montecarlo", "period": "quarter", "horizon": 2, "as_of": as_of.isoformat()}
    ).json()
    assert body["periods"][0]["amounts"] == [
        {"currency": "EUR", "won": "1.00", "expected": "10.00", "p10": "5.00", "p50": "10.00", "p90": "15.00"}
    ]
    call = calls[0]
    assert (call["method"], call["kind"], call["horizon"], call["as_of"], call["pipeline_id"]) == (
        "montecarlo", "quarter", 2, as_of, pipeline.pk,
    )
    assert set(call["owner_ids"]) == {rep.pk, manager.pk, teammate.pk}
    client_for(rep).get("/api/v1/forecast/", {"method": "learned"})
    client_for(admin_user).get("/api/v1/forecast/", {"method": "learned"})
    assert calls[1]["owner_ids"] == [rep.pk] and calls[2]["owner_ids"] is None


@pytest.mark.skipif(
    not hasattr(forecasting_services, "forecast_run"),
    reason="the forecasting engine (forecasting.services.forecast_run) is not part of this installation yet",
)
@pytest.mark.parametrize("method", ["weighted", "learned", "montecarlo"])
def test_every_method_answers_through_the_real_engine(method, rep, stages):
    today = timezone.localdate()
    for i in range(6):
        DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), expected_close=today + timedelta(days=10 * i))
    response = client_for(rep).get("/api/v1/forecast/", {"method": method, "period": "month", "horizon": 3})
    assert response.status_code == 200, response.content
    amounts = [a for p in response.json()["periods"] for a in p["amounts"]]
    assert amounts and all(Decimal(a["p10"]) <= Decimal(a["p50"]) <= Decimal(a["p90"]) for a in amounts)
