"""Pipelines, stages, lost reasons and users: everyone signed in reads, admins write."""
import pytest
from rest_framework.test import APIClient

from pipeline.models import LostReason, Pipeline, Stage
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db

READERS = ["rep", "manager", "admin_user"]


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("url", ["/api/v1/pipelines/", "/api/v1/stages/", "/api/v1/lost-reasons/", "/api/v1/users/"])
def test_everyone_signed_in_reads_the_configuration(who, url, request, pipeline):
    response = client_for(request.getfixturevalue(who)).get(url)
    assert response.status_code == 200 and response.json()["count"] >= 1


@pytest.mark.parametrize("url", ["/api/v1/pipelines/", "/api/v1/stages/", "/api/v1/lost-reasons/", "/api/v1/users/"])
def test_anonymous_reads_nothing(url, pipeline):
    response = APIClient().get(url)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_pipelines_list_their_stages_in_board_order_in_few_queries(rep, pipeline, django_assert_max_num_queries):
    Pipeline.objects.create(name="Upsell")
    client = client_for(rep)
    client.get("/api/v1/pipelines/")
    with django_assert_max_num_queries(5):
        body = client.get("/api/v1/pipelines/").json()
    first = body["results"][0]
    assert [s["name"] for s in first["stages"]][:2] == ["Prospecting", "Qualification"]


def test_stages_filter_by_pipeline(rep, pipeline):
    upsell = Pipeline.objects.create(name="Upsell")
    Stage.objects.create(pipeline=upsell, name="Idea")
    body = client_for(rep).get("/api/v1/stages/", {"pipeline": upsell.pk}).json()
    assert [s["name"] for s in body["results"]] == ["Idea"]


def test_inactive_pipelines_are_hidden_from_reps_but_not_admins(rep, admin_user, pipeline):
    old = Pipeline.objects.create(name="Old", is_active=False)
    assert client_for(rep).get(f"/api/v1/pipelines/{old.pk}/").status_code == 404
    assert client_for(admin_user).get(f"/api/v1/pipelines/{old.pk}/").status_code == 200


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_admins_write_stages(who, request, pipeline, stages):
    client = client_for(request.getfixturevalue(who))
    stage = stages["Offer"]
    assert client.post("/api/v1/stages/", {"pipeline": pipeline.pk, "name": "New"}, format="json").status_code == 403
    assert client.patch(f"/api/v1/stages/{stage.pk}/", {"probability": 99}, format="json").status_code == 403
    assert client.delete(f"/api/v1/stages/{stage.pk}/").status_code == 403
    assert client.post("/api/v1/lost-reasons/", {"name": "Nope"}, format="json").status_code == 403
    assert client.post("/api/v1/pipelines/", {"name": "Nope"}, format="json").status_code == 403
    stage.refresh_from_db()
    assert stage.probability == 60 and not Stage.objects.filter(name="New").exists()


def test_a_token_acts_with_its_owners_rights(rep, admin_user, pipeline):
    assert token_client(rep)[0].post("/api/v1/lost-reasons/", {"name": "A"}, format="json").status_code == 403
    assert token_client(admin_user)[0].post("/api/v1/lost-reasons/", {"name": "A"}, format="json").status_code == 201


def test_admin_creates_updates_and_deletes_a_stage(admin_user, pipeline):
    client = client_for(admin_user)
    created = client.post(
        "/api/v1/stages/",
        {"pipeline": pipeline.pk, "name": "Contract", "position": 5, "probability": 90, "colour": "#123abc"},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert client.patch(f"/api/v1/stages/{pk}/", {"probability": 95}, format="json").json()["probability"] == 95
    assert client.delete(f"/api/v1/stages/{pk}/").status_code == 204
    assert not Stage.objects.filter(pk=pk).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "Prospecting"}, None),  # duplicate name in the pipeline
        ({"name": "X", "probability": 101}, "probability"),
        ({"name": "X", "colour": "red"}, "colour"),
        ({"name": "X", "kind": "lost"}, "kind"),
        ({"name": "X", "position": -1}, "position"),
    ],
)
def test_bad_stages_are_field_errors(admin_user, pipeline, body, field):
    response = client_for(admin_user).post("/api/v1/stages/", {"pipeline": pipeline.pk, **body}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"invalid", "unique"}
    if field:
        assert field in response.json()


def test_a_stage_cannot_move_to_another_pipeline(admin_user, stages):
    other = Pipeline.objects.create(name="Upsell")
    response = client_for(admin_user).patch(
        f"/api/v1/stages/{stages['Offer'].pk}/", {"pipeline": other.pk}, format="json"
    )
    assert response.status_code == 400 and "pipeline" in response.json()


def test_deleting_a_stage_that_holds_deals_is_refused(admin_user, stages, rep):
    DealFactory(owner=rep, stage=stages["Offer"])
    response = client_for(admin_user).delete(f"/api/v1/stages/{stages['Offer'].pk}/")
    assert response.status_code == 400
    assert response.json()["code"] == "stage_has_deals" and "Offer" in response.json()["detail"]
    assert Stage.objects.filter(pk=stages["Offer"].pk).exists()


def test_deleting_a_stage_that_appears_in_history_is_refused(admin_user, stages, rep):
    from pipeline import services

    deal = DealFactory(owner=rep, stage=stages["Offer"])
    services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    response = client_for(admin_user).delete(f"/api/v1/stages/{stages['Offer'].pk}/")
    assert response.status_code == 400 and response.json()["code"] == "stage_in_use"


def test_deleting_a_pipeline_with_deals_is_refused_and_an_empty_one_works(admin_user, rep, pipeline):
    DealFactory(owner=rep)
    client = client_for(admin_user)
    assert client.delete(f"/api/v1/pipelines/{pipeline.pk}/").json()["code"] == "pipeline_has_deals"
    empty = Pipeline.objects.create(name="Empty")
    assert client.delete(f"/api/v1/pipelines/{empty.pk}/").status_code == 204


def test_a_lost_reason_in_use_cannot_be_deleted_only_deactivated(admin_user, rep, own_deal):
    from pipeline import services

    reason = LostReason.objects.first()
    services.deal_mark_lost(deal=own_deal, reason=reason, actor=rep)
    client = client_for(admin_user)
    response = client.delete(f"/api/v1/lost-reasons/{reason.pk}/")
    assert response.status_code == 400 and response.json()["code"] == "reason_in_use"
    assert client.patch(f"/api/v1/lost-reasons/{reason.pk}/", {"is_active": False}, format="json").status_code == 200


def test_users_are_those_whose_deals_you_may_see(rep, teammate, other_rep, admin_user):
    names = {u["username"] for u in client_for(rep).get("/api/v1/users/").json()["results"]}
    assert names == {"rita", "tom"}
    assert client_for(rep).get(f"/api/v1/users/{other_rep.pk}/").status_code == 404
    assert client_for(rep).post("/api/v1/users/", {"username": "x"}, format="json").status_code == 405


@pytest.mark.parametrize("url", ["/api/v1/stages/", "/api/v1/lost-reasons/", "/api/v1/users/"])
def test_configuration_lists_run_a_fixed_number_of_queries(url, admin_user, pipeline, django_assert_max_num_queries):
    from tests.factories import UserFactory

    for i in range(20):
        Stage.objects.create(pipeline=pipeline, name=f"Extra {i}", position=10 + i)
        LostReason.objects.create(name=f"Reason {i}", position=10 + i)
        UserFactory(username=f"person{i}")
    client = client_for(admin_user)
    client.get(url)
    with django_assert_max_num_queries(5):
        assert len(client.get(url).json()["results"]) >= 20


@pytest.mark.parametrize("url", ["/api/v1/deals/", "/api/v1/leads/", "/api/v1/stages/", "/api/v1/pipelines/"])
def test_options_describes_the_endpoint(url, admin_user, pipeline):
    response = client_for(admin_user).options(url)
    assert response.status_code == 200 and response.json()["name"]
