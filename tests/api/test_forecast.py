"""GET /api/v1/forecast/: the weighted forecast per period and currency, its parameters validated."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.forecast import period_containing, periods
from pipeline.models import DealStatus
from tests.api.conftest import client_for
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db


def test_periods_are_calendar_months_and_quarters():
    assert period_containing(date(2026, 11, 27), "month").key == "2026-11"
    q = period_containing(date(2026, 11, 27), "quarter")
    assert (q.key, q.start, q.end) == ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    assert [p.key for p in periods(date(2026, 12, 5), "month", 3)] == ["2026-12", "2027-01", "2027-02"]
    assert periods(date(2024, 2, 10), "month", 1)[0].end == date(2024, 2, 29)


def test_weighted_forecast_per_period_and_currency(rep, manager, stages, other_rep):
    today = timezone.localdate()
    this_month, next_month = periods(today, "month", 2)
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), expected_close=this_month.end)  # 60 %
    DealFactory(owner=rep, stage=stages["Negotiation"], amount=Decimal("500"), expected_close=today - timedelta(days=40))  # overdue, 80 %
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("200"), currency="USD", expected_close=next_month.start, probability=50)
    DealFactory(owner=rep, stage=stages["Prospecting"], amount=Decimal("300"), expected_close=None)  # undated
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("999"), expected_close=today, status=DealStatus.LOST, lost_reason=lost_reason())
    DealFactory(owner=other_rep, stage=stages["Offer"], amount=Decimal("7777"), expected_close=today)  # not visible

    body = client_for(manager).get("/api/v1/forecast/", {"method": "weighted", "period": "month", "horizon": 2}).json()
    assert (body["method"], body["period"], body["as_of"]) == ("weighted", "month", today.isoformat())
    first, second = body["periods"]
    assert first["period"] == this_month.key
    assert first["amounts"] == [
        {"currency": "EUR", "deals": 2, "total": "1500.00", "expected": "1000.00", "p10": "1000.00", "p50": "1000.00", "p90": "1000.00"}
    ]
    assert [(a["currency"], a["expected"]) for a in second["amounts"]] == [("USD", "100.00")]
    assert [(a["currency"], a["deals"], a["expected"]) for a in body["undated"]] == [("EUR", 1, "30.00")]


def test_quarters(rep, stages):
    today = timezone.localdate()
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("100"), expected_close=today)
    body = client_for(rep).get("/api/v1/forecast/", {"period": "quarter", "horizon": 4}).json()
    assert len(body["periods"]) == 4 and body["periods"][0]["period"].endswith(f"Q{(today.month - 1) // 3 + 1}")
    assert body["periods"][0]["amounts"][0]["expected"] == "60.00"


@pytest.mark.parametrize(
    "query, field",
    [({"method": "magic"}, "method"), ({"period": "week"}, "period"), ({"as_of": "yesterday"}, "as_of"),
     ({"as_of": "2026-02-30"}, "as_of"), ({"horizon": 0}, "horizon"), ({"horizon": 1000}, "horizon"),
     ({"pipeline": 99999}, "pipeline")],
)
def test_bad_parameters_are_400_with_the_field(rep, pipeline, query, field):
    response = client_for(rep).get("/api/v1/forecast/", query)
    assert response.status_code == 400 and field in response.json()


@pytest.mark.parametrize("query, code", [({"method": "montecarlo"}, "method_unavailable"),
                                         ({"as_of": "2020-01-01"}, "as_of_unavailable")])
def test_what_the_engine_cannot_answer_yet_is_refused_not_guessed(rep, pipeline, query, code):
    response = client_for(rep).get("/api/v1/forecast/", query)
    assert response.status_code == 400 and response.json()["code"] == code


def test_forecast_needs_sign_in(pipeline):
    assert APIClient().get("/api/v1/forecast/").status_code == 401


def test_forecast_runs_a_fixed_number_of_queries(rep, stages, django_assert_max_num_queries):
    for i in range(20):
        DealFactory(owner=rep, stage=stages["Offer"], expected_close=timezone.localdate() + timedelta(days=20 * i))
    client = client_for(rep)
    client.get("/api/v1/forecast/")
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/forecast/", {"horizon": 12}).status_code == 200
