"""The deal endpoints: every verb for every kind of caller, the rules' refusals and the error format."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from pipeline.models import Deal, DealChange, DealStatus, StageChange
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, OrganizationFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db


def _caller(name, request):
    """A client for one of the matrix's callers; all look at `own_deal` (owned by the rep rita)."""
    if name == "anonymous":
        return APIClient()
    if name == "token":
        return token_client(request.getfixturevalue("rep"))[0]
    if name == "revoked_token":
        client, token = token_client(request.getfixturevalue("rep"))
        token.revoke()
        return client
    user = {
        "owner": "rep",
        "teammate": "teammate",
        "other_team_rep": "other_rep",
        "manager": "manager",
        "other_manager": "other_manager",
        "admin": "admin_user",
    }[name]
    return client_for(request.getfixturevalue(user))


# caller → (status for reads, status for changes) of the rep's own deal
MATRIX = {
    "owner": (200, 200),
    "token": (200, 200),
    "teammate": (200, 403),  # reps see teammates' deals read-only (the default setting)
    "other_team_rep": (404, 404),
    "manager": (200, 200),
    "other_manager": (404, 404),
    "admin": (200, 200),
    "anonymous": (401, 401),
    "revoked_token": (401, 401),
}


@pytest.mark.parametrize("caller", MATRIX)
def test_reading_a_deal_follows_visibility(caller, request, own_deal):
    response = _caller(caller, request).get(f"/api/v1/deals/{own_deal.pk}/")
    assert response.status_code == MATRIX[caller][0], response.content
    if response.status_code == 200:
        assert response.json()["id"] == own_deal.pk


@pytest.mark.parametrize("caller", MATRIX)
def test_reading_a_deals_history_follows_visibility(caller, request, own_deal):
    response = _caller(caller, request).get(f"/api/v1/deals/{own_deal.pk}/history/")
    assert response.status_code == MATRIX[caller][0]


@pytest.mark.parametrize("caller", MATRIX)
def test_updating_a_deal_follows_change_rights(caller, request, own_deal):
    response = _caller(caller, request).patch(
        f"/api/v1/deals/{own_deal.pk}/", {"title": "Renamed", "version": 1}, format="json"
    )
    assert response.status_code == MATRIX[caller][1], response.content
    own_deal.refresh_from_db()
    assert (own_deal.title == "Renamed") == (response.status_code == 200)


@pytest.mark.parametrize("caller", MATRIX)
def test_moving_a_deal_follows_change_rights(caller, request, own_deal, stages):
    response = _caller(caller, request).post(
        f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": 1}, format="json"
    )
    assert response.status_code == MATRIX[caller][1], response.content
    own_deal.refresh_from_db()
    assert (own_deal.stage == stages["Qualification"]) == (response.status_code == 200)


@pytest.mark.parametrize("caller", ["teammate", "other_team_rep", "other_manager"])
@pytest.mark.parametrize("stage", ["x", 0, 2**63, 999_999, "other pipeline", None])
def test_a_move_the_caller_may_not_make_is_refused_before_its_stage_is_checked(caller, stage, request, own_deal):
    """404 for a deal the caller may not see and 403 for one they may only see, whatever the stage
    says: a bad stage never tells a caller more about a deal than its visibility allows."""
    from pipeline.models import Pipeline, Stage

    if stage == "other pipeline":
        stage = Stage.objects.create(pipeline=Pipeline.objects.create(name="Upsell"), name="Elsewhere").pk
    body = {"version": 1} if stage is None else {"stage": stage, "version": 1}
    response = _caller(caller, request).post(f"/api/v1/deals/{own_deal.pk}/move/", body, format="json")
    assert response.status_code == MATRIX[caller][1], response.content
    assert Deal.objects.get(pk=own_deal.pk).version == 1


@pytest.mark.parametrize("caller", MATRIX)
def test_losing_a_deal_follows_change_rights(caller, request, own_deal):
    response = _caller(caller, request).post(
        f"/api/v1/deals/{own_deal.pk}/lose/", {"reason": lost_reason().pk, "version": 1}, format="json"
    )
    assert response.status_code == MATRIX[caller][1], response.content
    own_deal.refresh_from_db()
    assert (own_deal.status == DealStatus.LOST) == (response.status_code == 200)


@pytest.mark.parametrize("caller", MATRIX)
def test_reopening_a_deal_follows_change_rights(caller, request, own_deal, rep):
    from pipeline import services

    services.deal_mark_lost(deal=own_deal, reason=lost_reason(), actor=rep)
    response = _caller(caller, request).post(f"/api/v1/deals/{own_deal.pk}/reopen/", {}, format="json")
    assert response.status_code == MATRIX[caller][1], response.content
    own_deal.refresh_from_db()
    assert (own_deal.status == DealStatus.OPEN) == (response.status_code == 200)


@pytest.mark.parametrize("caller", MATRIX)
def test_listing_deals_shows_only_visible_ones(caller, request, own_deal, team_deal, other_deal):
    response = _caller(caller, request).get("/api/v1/deals/")
    expected = {
        "owner": {own_deal.pk, team_deal.pk},
        "token": {own_deal.pk, team_deal.pk},
        "teammate": {own_deal.pk, team_deal.pk},
        "other_team_rep": {other_deal.pk},
        "manager": {own_deal.pk, team_deal.pk},
        "other_manager": {other_deal.pk},
        "admin": {own_deal.pk, team_deal.pk, other_deal.pk},
    }
    if caller in ("anonymous", "revoked_token"):
        assert response.status_code == 401
        return
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == expected[caller]


def test_reps_who_see_only_their_own_deals_get_404_for_a_teammates(settings, rep, team_deal):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    assert client_for(rep).get(f"/api/v1/deals/{team_deal.pk}/").status_code == 404


# --- Create -------------------------------------------------------------------------------------


def test_create_puts_the_deal_in_the_first_stage_and_records_its_start(rep, stages):
    organization = OrganizationFactory(owner=rep)
    response = client_for(rep).post(
        "/api/v1/deals/", {"title": "Fleet renewal", "organization": organization.pk, "amount": "1200.50"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["stage"], body["owner"], body["amount"], body["version"]) == (stages["Prospecting"].pk, rep.pk, "1200.50", 1)
    assert StageChange.objects.filter(deal_id=body["id"], from_stage=None).count() == 1


def test_create_into_a_stage_whose_rules_are_not_met_is_refused_with_the_rules_message(rep, stages):
    organization = OrganizationFactory(owner=rep)
    response = client_for(rep).post(
        "/api/v1/deals/", {"title": "Big one", "organization": organization.pk, "stage": stages["Offer"].pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"refused", "requirements"}
    assert "Offer" in response.json()["detail"]
    assert not Deal.objects.filter(title="Big one").exists()


def test_create_with_an_organization_the_user_cannot_see_is_a_field_error(rep, other_rep):
    hidden = OrganizationFactory(owner=other_rep)
    response = client_for(rep).post("/api/v1/deals/", {"title": "x", "organization": hidden.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "organization" in body and body["detail"]


def test_a_rep_cannot_give_a_new_deal_to_someone_else_but_a_manager_can(rep, teammate, manager):
    organization = OrganizationFactory(owner=None)
    refused = client_for(rep).post("/api/v1/deals/", {"title": "x", "organization": organization.pk, "owner": teammate.pk}, format="json")
    assert refused.status_code == 400 and "owner" in refused.json()
    allowed = client_for(manager).post("/api/v1/deals/", {"title": "x", "organization": organization.pk, "owner": teammate.pk}, format="json")
    assert allowed.status_code == 201 and allowed.json()["owner"] == teammate.pk


def test_create_with_a_stage_of_another_pipeline_is_a_field_error(rep, stages):
    from pipeline.models import Pipeline

    other = Pipeline.objects.create(name="Upsell")
    response = client_for(rep).post(
        "/api/v1/deals/",
        {"title": "x", "organization": OrganizationFactory(owner=rep).pk, "pipeline": other.pk, "stage": stages["Prospecting"].pk},
        format="json",
    )
    assert response.status_code == 400 and "stage" in response.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": ""}, "title"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"probability": 101}, "probability"),
        ({"expected_close": "2026-13-01"}, "expected_close"),
        ({"title": "a\x00b"}, "title"),
    ],
)
def test_create_with_bad_input_names_the_field(rep, body, field):
    payload = {"title": "Fine", "organization": OrganizationFactory(owner=rep).pk, **body}
    response = client_for(rep).post("/api/v1/deals/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json() and response.json()["code"] == "invalid"


def test_malformed_json_is_a_400_in_the_error_format(rep):
    response = client_for(rep).post("/api/v1/deals/", b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error" and response.json()["detail"]


# --- Update -------------------------------------------------------------------------------------


def test_update_records_field_changes_and_bumps_the_version(rep, own_deal):
    response = client_for(rep).patch(
        f"/api/v1/deals/{own_deal.pk}/",
        {"amount": "2500.00", "expected_close": "2027-03-31", "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["amount"] == "2500.00"
    changes = set(DealChange.objects.filter(deal=own_deal).values_list("field", "old_value", "new_value"))
    assert changes == {("amount", "1000.00", "2500.00"), ("expected_close", "", "2027-03-31")}


def test_update_with_a_stale_version_is_409_with_the_current_deal(rep, own_deal, stages):
    from pipeline import services

    services.deal_move(deal=own_deal, to_stage=stages["Qualification"], actor=rep)  # version 2 now
    response = client_for(rep).patch(f"/api/v1/deals/{own_deal.pk}/", {"title": "Mine", "version": 1}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict" and body["detail"]
    assert body["deal"]["version"] == 2 and body["deal"]["stage"] == stages["Qualification"].pk
    own_deal.refresh_from_db()
    assert own_deal.title != "Mine"


def test_update_without_a_version_is_a_field_error(rep, own_deal):
    response = client_for(rep).patch(f"/api/v1/deals/{own_deal.pk}/", {"title": "x"}, format="json")
    assert response.status_code == 400 and "version" in response.json()


def test_update_refuses_the_stage_and_status_naming_them_and_changes_nothing(rep, own_deal, stages):
    response = client_for(rep).patch(
        f"/api/v1/deals/{own_deal.pk}/",
        {"title": "Renamed", "stage": stages["Retention"].pk, "status": "won", "version": 1},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["stage"] == ["The stage changes only by a move (POST …/move/)."]
    assert body["status"] == ["The status changes only by a move into a won stage, …/lose/ or …/reopen/."]
    own_deal.refresh_from_db()
    assert (own_deal.stage, own_deal.status, own_deal.title) == (stages["Prospecting"], DealStatus.OPEN, own_deal.title)
    assert own_deal.version == 1


@pytest.mark.parametrize(
    "method, path, body, refused",
    [
        ("patch", "", {"closed_at": "2026-01-01T00:00:00Z", "version": 1}, {"closed_at": "This field cannot be changed here."}),
        ("patch", "", {"colour": "red", "version": 1}, {"colour": "Unknown field."}),
        ("post", "move/", {"stage": None, "version": 1, "title": "x"}, {"title": "This field cannot be changed here."}),
        ("post", "lose/", {"reason": None, "status": "lost"}, {"status": None}),
        ("post", "reopen/", {"lost_reason": 1}, {"lost_reason": None}),
    ],
)
def test_deal_writes_name_the_fields_they_do_not_accept(rep, own_deal, method, path, body, refused):
    from pipeline.models import LostReason

    if "reason" in body:
        body["reason"] = LostReason.objects.first().pk
    if "stage" in body:
        body["stage"] = own_deal.stage_id
    response = getattr(client_for(rep), method)(f"/api/v1/deals/{own_deal.pk}/{path}", body, format="json")
    assert response.status_code == 400, response.content
    answer = response.json()
    for name, message in refused.items():
        assert name in answer and (message is None or answer[name] == [message])
    own_deal.refresh_from_db()
    assert own_deal.version == 1


def test_create_names_the_fields_it_does_not_accept(rep):
    response = client_for(rep).post(
        "/api/v1/deals/", {"title": "New", "organization": OrganizationFactory(owner=rep).pk, "status": "won", "version": 5},
        format="json",
    )
    assert response.status_code == 400 and set(response.json()) >= {"status", "version"}
    assert not Deal.objects.filter(title="New").exists()


def test_removing_the_amount_of_a_deal_in_offer_is_refused(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"])
    response = client_for(rep).patch(f"/api/v1/deals/{deal.pk}/", {"amount": None, "version": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "requirements"


def test_put_is_not_offered(rep, own_deal):
    response = client_for(rep).put(f"/api/v1/deals/{own_deal.pk}/", {"title": "x", "version": 1}, format="json")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


def test_deleting_a_deal_is_not_offered(admin_user, own_deal):
    assert client_for(admin_user).delete(f"/api/v1/deals/{own_deal.pk}/").status_code == 405
    assert Deal.objects.filter(pk=own_deal.pk).exists()


# --- Move, lose, reopen -------------------------------------------------------------------------


def test_move_into_offer_without_amount_is_400_with_the_services_message(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], amount=None)
    response = client_for(rep).post(
        f"/api/v1/deals/{deal.pk}/move/", {"stage": stages["Offer"].pk, "version": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "To enter “Offer”, this deal needs an amount.", "code": "requirements"}


def test_move_into_the_won_stage_marks_the_deal_won(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], expected_close=date.today())
    response = client_for(rep).post(
        f"/api/v1/deals/{deal.pk}/move/", {"stage": stages["Retention"].pk, "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "won" and response.json()["closed_at"]


def test_move_to_a_stage_of_another_pipeline_is_refused(rep, own_deal):
    from pipeline.models import Pipeline, Stage

    other = Stage.objects.create(pipeline=Pipeline.objects.create(name="Upsell"), name="Elsewhere")
    response = client_for(rep).post(f"/api/v1/deals/{own_deal.pk}/move/", {"stage": other.pk, "version": 1}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "wrong_pipeline"


def test_move_with_a_stale_version_is_409_and_changes_nothing(rep, own_deal, stages):
    response = client_for(rep).post(
        f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": 7}, format="json"
    )
    assert response.status_code == 409 and response.json()["deal"]["version"] == 1
    assert StageChange.objects.filter(deal=own_deal).count() == 1


@pytest.mark.parametrize("body", [{}, {"stage": 999999, "version": 1}, {"stage": "x", "version": 1}, {"stage": 1}])
def test_move_with_bad_input_is_a_field_error(rep, own_deal, body):
    response = client_for(rep).post(f"/api/v1/deals/{own_deal.pk}/move/", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "stage, message",
    [
        ("x", "Incorrect type. Expected pk value, received str."),
        (True, "Incorrect type. Expected pk value, received bool."),
        (1.5, "Incorrect type. Expected pk value, received float."),  # not stage 1
        (0, 'Invalid pk "0" - object does not exist.'),
        (2**63, f'Invalid pk "{2**63}" - object does not exist.'),
        (999999, 'Invalid pk "999999" - object does not exist.'),
        ("999999", 'Invalid pk "999999" - object does not exist.'),
    ],
)
def test_move_to_a_stage_id_that_names_no_stage_says_why(rep, own_deal, stages, stage, message):
    response = client_for(rep).post(f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stage, "version": 1}, format="json")
    assert response.status_code == 400 and response.json()["stage"] == [message]
    assert Deal.objects.get(pk=own_deal.pk).version == 1


@pytest.mark.parametrize("pk", ["%C2%B2", "x", "0", "-1", "99999999999999999999999"])
def test_move_of_an_id_that_names_no_deal_is_404(rep, own_deal, stages, pk):
    """Whatever the URL holds where the id goes, a move reads it as the deal's page does: a 404,
    never a server error ("²" is a digit to str.isdigit but not a number to int)."""
    response = client_for(rep).post(
        f"/api/v1/deals/{pk}/move/", {"stage": stages["Qualification"].pk, "version": 1}, format="json"
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Deal.objects.get(pk=own_deal.pk).version == 1


def test_move_reads_the_id_as_the_deal_page_does(rep, own_deal, stages):
    """An id in other digits (Arabic-Indic "١") names the same deal for the move as for a read."""
    client = client_for(rep)
    arabic = "".join(chr(0x660 + int(d)) for d in str(own_deal.pk))
    assert client.get(f"/api/v1/deals/{arabic}/").json()["id"] == own_deal.pk
    response = client.post(
        f"/api/v1/deals/{arabic}/move/", {"stage": stages["Qualification"].pk, "version": 1}, format="json"
    )
    assert response.status_code == 200 and response.json()["id"] == own_deal.pk


def test_lose_records_reason_and_note_and_a_lost_deal_cannot_move(rep, own_deal, stages):
    reason = lost_reason()
    client = client_for(rep)
    response = client.post(
        f"/api/v1/deals/{own_deal.pk}/lose/", {"reason": reason.pk, "note": "Chose a rival", "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["lost_reason"], response.json()["lost_note"]) == (
        "lost", reason.pk, "Chose a rival",
    )
    refused = client.post(f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Offer"].pk, "version": 2}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "lost"


def test_lose_with_an_inactive_reason_is_refused(rep, own_deal):
    reason = lost_reason()
    reason.is_active = False
    reason.save()
    response = client_for(rep).post(f"/api/v1/deals/{own_deal.pk}/lose/", {"reason": reason.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "reason_inactive"


def test_reopen_a_won_deal_is_refused(rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON)
    response = client_for(rep).post(f"/api/v1/deals/{deal.pk}/reopen/", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "won"


def test_history_lists_stage_and_field_changes_in_order(rep, own_deal, stages):
    from pipeline import services

    services.deal_move(deal=own_deal, to_stage=stages["Qualification"], actor=rep)
    services.deal_update(deal=own_deal, actor=rep, amount=Decimal("5"))
    body = client_for(rep).get(f"/api/v1/deals/{own_deal.pk}/history/").json()
    assert [(c["from_stage"], c["to_stage"]) for c in body["stage_changes"]] == [
        (None, stages["Prospecting"].pk), (stages["Prospecting"].pk, stages["Qualification"].pk),
    ]
    assert body["stage_changes"][1]["seconds_in_previous"] >= 0
    assert [(c["field"], c["new_value"], c["actor"]) for c in body["deal_changes"]] == [("amount", "5.00", rep.pk)]


def test_unknown_deal_is_404_in_the_error_format(rep):
    for url in ("/api/v1/deals/999999/", "/api/v1/deals/abc/", f"/api/v1/deals/{2**70}/"):
        response = client_for(rep).get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"


# --- Filters, pagination, queries ----------------------------------------------------------------


def test_filters_narrow_the_list(rep, stages):
    today = date.today()
    a = DealFactory(owner=rep, stage=stages["Qualification"], title="Alpha rollout", expected_close=today)
    b = DealFactory(owner=rep, stage=stages["Prospecting"], title="Beta", expected_close=today + timedelta(days=40))
    c = DealFactory(owner=rep, stage=stages["Prospecting"], title="Gamma", organization=OrganizationFactory(name="Alphabet GmbH"))
    client = client_for(rep)

    def ids(query):
        response = client.get("/api/v1/deals/", query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids({"stage": stages["Qualification"].pk}) == {a.pk}
    assert ids({"search": "alpha"}) == {a.pk, c.pk}
    assert ids({"expected_close_after": today.isoformat(), "expected_close_before": (today + timedelta(days=1)).isoformat()}) == {a.pk}
    assert ids({"expected_close_after": (today + timedelta(days=1)).isoformat()}) == {b.pk}
    assert ids({"status": "open", "owner": rep.pk, "pipeline": stages["Prospecting"].pipeline_id}) == {a.pk, b.pk, c.pk}
    assert ids({"status": "lost"}) == set()


@pytest.mark.parametrize(
    "query",
    [{"stage": "x"}, {"stage": "1.5"}, {"status": "maybe"}, {"expected_close_after": "tomorrow"},
     {"owner": str(2**70)}, {"search": "a\x00"}, {"ordering": "password"}],
)
def test_bad_filter_values_are_400_not_500(rep, query):
    response = client_for(rep).get("/api/v1/deals/", query)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


def test_pagination_pages_and_bounds_the_page_size(rep, stages):
    for _ in range(5):
        DealFactory(owner=rep, stage=stages["Prospecting"])
    client = client_for(rep)
    first = client.get("/api/v1/deals/", {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    last = client.get("/api/v1/deals/", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    assert client.get("/api/v1/deals/", {"page": 99}).status_code == 404


def test_deal_list_runs_a_fixed_number_of_queries(rep, manager, stages, django_assert_max_num_queries):
    for _ in range(30):
        DealFactory(owner=rep, stage=stages["Qualification"])
    for client in (client_for(rep), client_for(manager), token_client(rep)[0]):
        client.get("/api/v1/deals/")  # warm the session
        with django_assert_max_num_queries(6):
            response = client.get("/api/v1/deals/", {"page_size": 50})
        assert len(response.json()["results"]) == 30


def test_organization_list_runs_a_fixed_number_of_queries(rep, django_assert_max_num_queries):
    for _ in range(30):
        OrganizationFactory(owner=rep)
    client = client_for(rep)
    client.get("/api/v1/organizations/")
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/organizations/", {"page_size": 50})
    assert response.json()["count"] == 30


def test_inactive_user_token_is_refused(rep, own_deal):
    client, _ = token_client(rep)
    rep.is_active = False
    rep.save()
    assert client.get("/api/v1/deals/").status_code == 401


def test_an_admin_can_reassign_a_deal_out_of_a_managers_sight(manager, own_deal, other_rep):
    admin = UserFactory(username="root", role="admin")
    response = client_for(admin).patch(
        f"/api/v1/deals/{own_deal.pk}/", {"owner": other_rep.pk, "version": 1}, format="json"
    )
    assert response.status_code == 200 and response.json()["owner"] == other_rep.pk
    assert client_for(manager).get(f"/api/v1/deals/{own_deal.pk}/").status_code == 404


@pytest.mark.parametrize(
    "body, content_type, status, code",
    [
        (b"[" * 100_000, "application/json", 400, "parse_error"),  # Python's decoder recurses
        (b"\xff\xfe", "application/json", 400, "parse_error"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_hostile_bodies_are_client_errors(rep, body, content_type, status, code):
    client = client_for(rep)
    client.raise_request_exception = False
    response = client.post("/api/v1/deals/", body, content_type=content_type)
    assert response.status_code == status and response.json()["code"] == code


def test_a_rep_sets_the_forecast_category_and_filters_by_it(rep, own_deal, team_deal):
    client = client_for(rep)
    response = client.patch(f"/api/v1/deals/{own_deal.pk}/", {"forecast_category": "commit", "version": 1}, format="json")
    assert response.status_code == 200 and response.json()["forecast_category"] == "commit"
    assert DealChange.objects.filter(deal=own_deal, field="forecast_category", new_value="commit").exists()
    listed = client.get("/api/v1/deals/", {"forecast_category": "commit"}).json()["results"]
    assert [d["id"] for d in listed] == [own_deal.pk]
    refused = client.patch(f"/api/v1/deals/{own_deal.pk}/", {"forecast_category": "maybe", "version": 2}, format="json")
    assert refused.status_code == 400 and "forecast_category" in refused.json()


def test_a_move_url_with_list_filters_applies_them_as_every_action_does(rep, own_deal, stages):
    """The filters of the deal list narrow any action's deal (get_object); the move's fast read
    is used only without them, so it answers alike."""
    client = client_for(rep)
    url = f"/api/v1/deals/{own_deal.pk}/move/"
    body = {"stage": stages["Qualification"].pk, "version": 1}
    assert client.post(url + "?status=lost", body, format="json").status_code == 404
    assert client.post(url + "?status=open", body, format="json").status_code == 200
    own_deal.refresh_from_db()
    assert own_deal.stage == stages["Qualification"] and own_deal.version == 2


def test_the_deal_written_with_fields_built_once_equals_the_serializer(rep, stages):
    """api.serializers.deal_data keeps one DealSerializer per thread: what it writes must be what
    a fresh DealSerializer writes, for every kind of deal, in English and German."""
    from django.utils import translation

    from api.serializers import DealSerializer, deal_data

    DealFactory(owner=rep, stage=stages["Offer"], amount=Decimal("1234.50"), probability=35, expected_close=date.today())
    DealFactory(owner=rep, stage=stages["Prospecting"], amount=None, expected_close=None, next_step="")
    DealFactory(owner=rep, stage=stages["Retention"], status="won", closed_at=timezone.now(), currency="USD")
    DealFactory(owner=rep, stage=stages["Negotiation"], status="lost", lost_reason=lost_reason(), lost_note="Price")
    deals = list(Deal.objects.select_related("stage", "organization", "owner").order_by("pk"))
    assert len(deals) == 4
    for language in ("en", "de"):
        with translation.override(language):
            for deal in deals:
                assert deal_data(deal) == DealSerializer(deal).data


def test_changing_the_organization_through_the_api_shows_in_the_history_and_on_the_deal_page(client, rep, own_deal):
    old_name = own_deal.organization.name
    new_organization = OrganizationFactory(owner=rep, name="Neue Organisation GmbH")
    response = client_for(rep).patch(f"/api/v1/deals/{own_deal.pk}/", {"organization": new_organization.pk, "version": 1}, format="json")
    assert response.status_code == 200, response.content
    history = client_for(rep).get(f"/api/v1/deals/{own_deal.pk}/history/").json()["deal_changes"]
    assert [(c["field"], c["new_value"]) for c in history] == [("organization", str(new_organization.pk))]
    client.force_login(rep)
    page = client.get(own_deal.get_absolute_url()).content.decode()
    assert old_name in page and "Neue Organisation GmbH" in page
