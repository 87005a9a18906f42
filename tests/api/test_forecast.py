"""GET /api/v1/forecast/: the forecasting engine's answer per period and currency, scoped like the
forecast dashboard, with its parameters validated."""
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from pipeline.models import DealStatus
from tests.api.conftest import client_for
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def mid_month():
    """Not a period's last day: on one, a forecast starts with the next period."""
    with time_machine.travel(datetime(2026, 3, 12, 9, tzinfo=dt_timezone.utc), tick=False):
        yield


def _amounts(body, index=0):
    """The period's amounts by currency, leaving out currencies with nothing in it."""
    return {
        a["currency"]: a for a in body["periods"][index]["amounts"]
        if any(Decimal(a[key]) for key in ("won", "expected", "p90"))
    }


@pytest.fixture
def book(rep, teammate, other_rep, stages):
    """Open deals closing this month and next, a lost one, a won one, and another team's."""
    today = timezone.localdate()
    this_month_end = (today.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    next_month = this_month_end + timedelta(days=1)
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1000"), expected_close=this_month_end)  # 60 %
    DealFactory(owner=rep, stage=stages["Qualification"], amount=Decimal("500"),
                expected_close=today - timedelta(days=70))  # overdue: counts now, at 20 %
    DealFactory(owner=rep, stage=stages["Retention"], amount=Decimal("250"), status=DealStatus.WON,
                closed_at=timezone.now())
    DealFactory(owner=teammate, stage=stages["Offer"], amount=Decimal("200"), currency="USD",
                expected_close=next_month, probability=50)
    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("999"), expected_close=today,
                status=DealStatus.LOST, lost_reason=lost_reason())
    DealFactory(owner=other_rep, stage=stages["Offer"], amount=Decimal("7777"), expected_close=today)
    return today


def test_weighted_forecast_per_period_and_currency_for_a_manager(book, manager):
    body = client_for(manager).get("/api/v1/forecast/", {"method": "weighted", "period": "month", "horizon": 2}).json()
    assert (body["method"], body["period"], body["as_of"]) == ("weighted", "month", book.isoformat())
    assert body["periods"][0]["period"] == f"{book.year}-{book.month:02d}"
    assert body["periods"][0]["start"] == book.replace(day=1).isoformat()
    first, second = _amounts(body, 0), _amounts(body, 1)
    assert set(first) == {"EUR"} and Decimal(first["EUR"]["won"]) == Decimal("250.00")
    assert Decimal(first["EUR"]["expected"]) == Decimal("950.00")  # won so far + 60 % of 1000 + 20 % of 500
    assert Decimal(second["USD"]["expected"]) == Decimal("100.00")  # the deal's own 50 %
    for amount in (first["EUR"], second["USD"]):
        assert Decimal(amount["p10"]) <= Decimal(amount["expected"]) <= Decimal(amount["p90"])


def test_a_forecast_as_of_a_months_last_day_starts_with_the_next_month(book, manager):
    body = client_for(manager).get(
        "/api/v1/forecast/", {"method": "weighted", "period": "month", "horizon": 1, "as_of": "2026-02-28"}
    ).json()
    assert [p["period"] for p in body["periods"]] == ["2026-03"]
    assert body["periods"][0]["start"] == "2026-03-01"


def test_a_reps_forecast_is_their_own_and_an_admins_everyones(book, rep, admin_user):
    mine = client_for(rep).get("/api/v1/forecast/", {"horizon": 2}).json()
    assert Decimal(_amounts(mine, 0)["EUR"]["expected"]) == Decimal("950.00")
    assert _amounts(mine, 1) == {}  # the teammate's USD deal is not in a rep's numbers
    everyone = client_for(admin_user).get("/api/v1/forecast/", {"horizon": 2}).json()
    assert Decimal(_amounts(everyone, 0)["EUR"]["expected"]) == Decimal("950.00") + Decimal("7777") * Decimal("0.6")


@pytest.mark.parametrize("method", ["weighted", "learned", "montecarlo"])
def test_every_method_answers_with_an_ordered_range(book, manager, method):
    response = client_for(manager).get("/api/v1/forecast/", {"method": method, "period": "quarter", "horizon": 2})
    assert response.status_code == 200, response.content
    amounts = [a for p in response.json()["periods"] for a in p["amounts"]]
    assert amounts and all(Decimal(a["p10"]) <= Decimal(a["p50"]) <= Decimal(a["p90"]) for a in amounts)
    assert response.json()["periods"][0]["period"].endswith(f"Q{(book.month - 1) // 3 + 1}")


def test_monte_carlo_gives_the_same_answer_to_the_same_question(book, manager):
    client = client_for(manager)
    query = {"method": "montecarlo", "horizon": 2}
    assert client.get("/api/v1/forecast/", query).json() == client.get("/api/v1/forecast/", query).json()


def test_a_forecast_as_of_a_past_day_does_not_see_later_deals(book, manager):
    earlier = book - timedelta(days=400)
    body = client_for(manager).get("/api/v1/forecast/", {"as_of": earlier.isoformat(), "horizon": 2}).json()
    assert body["as_of"] == earlier.isoformat()
    assert all(_amounts(body, i) == {} for i in range(len(body["periods"])))


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


@pytest.mark.parametrize("method", ["weighted", "montecarlo"])
def test_forecast_queries_do_not_grow_with_the_deals(method, rep, stages, django_assert_max_num_queries):
    client = client_for(rep)
    for i in range(5):
        DealFactory(owner=rep, stage=stages["Offer"], expected_close=timezone.localdate() + timedelta(days=20 * i))
    client.get("/api/v1/forecast/", {"method": method})
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/forecast/", {"method": method, "horizon": 6})
    for i in range(40):
        DealFactory(owner=rep, stage=stages["Offer"], expected_close=timezone.localdate() + timedelta(days=5 * i))
    with django_assert_max_num_queries(len(few)):
        assert client.get("/api/v1/forecast/", {"method": method, "horizon": 6}).status_code == 200
