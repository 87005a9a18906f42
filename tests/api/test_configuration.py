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


@pytest.mark.parametrize("url", ["/api/v1/deals/", "/api/v1/organizations/", "/api/v1/stages/", "/api/v1/pipelines/"])
def test_options_describes_the_endpoint(url, admin_user, pipeline):
    response = client_for(admin_user).options(url)
    assert response.status_code == 200 and response.json()["name"]


# --- The API refuses what the admin refuses, with the same message, and is audited --------------


def test_a_stage_holding_open_deals_cannot_become_won_through_the_api(admin_user, rep, stages):
    from pipeline.admin import StageForm

    stage = stages["Offer"]
    DealFactory(owner=rep, stage=stage)
    response = client_for(admin_user).patch(f"/api/v1/stages/{stage.pk}/", {"kind": "won"}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "stage_has_deals" and body["kind"] == [body["detail"]]
    stage.refresh_from_db()
    assert stage.kind == "open"
    # The admin's refusal of the same change, word for word.
    form = StageForm(
        instance=stage,
        data={"pipeline": stage.pipeline_id, "name": stage.name, "position": stage.position,
              "probability": stage.probability, "kind": "won", "colour": stage.colour},
    )
    assert not form.is_valid() and form.non_field_errors() == [body["detail"]]


def test_an_empty_stage_can_become_won_through_the_api(admin_user, pipeline):
    stage = Stage.objects.create(pipeline=pipeline, name="Signed", position=9)
    response = client_for(admin_user).patch(f"/api/v1/stages/{stage.pk}/", {"kind": "won"}, format="json")
    assert response.status_code == 200 and response.json()["kind"] == "won"


@pytest.mark.parametrize("in_history", [False, True])
def test_api_and_admin_refuse_to_delete_a_used_stage_with_the_same_message(admin_user, rep, stages, in_history):
    from pipeline import services
    from pipeline.admin import stage_delete_refusal

    deal = DealFactory(owner=rep, stage=stages["Offer"])
    if in_history:
        services.deal_move(deal=deal, to_stage=stages["Negotiation"], actor=rep)
    response = client_for(admin_user).delete(f"/api/v1/stages/{stages['Offer'].pk}/")
    assert response.status_code == 400
    assert response.json()["detail"] == stage_delete_refusal(stages["Offer"])
    assert response.json()["code"] == ("stage_in_use" if in_history else "stage_has_deals")


def test_api_and_admin_refuse_to_delete_a_used_lost_reason_with_the_same_message(admin_user, rep, own_deal):
    from pipeline import services
    from pipeline.admin import lost_reason_delete_refusal

    reason = LostReason.objects.first()
    services.deal_mark_lost(deal=own_deal, reason=reason, actor=rep)
    services.deal_reopen(deal=own_deal, actor=rep)  # only the history still names the reason
    response = client_for(admin_user).delete(f"/api/v1/lost-reasons/{reason.pk}/")
    assert response.status_code == 400 and response.json()["detail"] == lost_reason_delete_refusal(reason)
    assert LostReason.objects.filter(pk=reason.pk).exists()


def test_api_and_admin_refuse_to_delete_a_pipeline_with_deals_with_the_same_message(admin_user, rep, pipeline):
    from pipeline.admin import pipeline_delete_refusal

    DealFactory(owner=rep)
    response = client_for(admin_user).delete(f"/api/v1/pipelines/{pipeline.pk}/")
    assert response.status_code == 400 and response.json()["detail"] == pipeline_delete_refusal(pipeline)


def test_configuration_changes_through_the_api_are_audited(admin_user, pipeline):
    from accounts.models import ConfigChange

    client = client_for(admin_user)
    stage_id = client.post(
        "/api/v1/stages/", {"pipeline": pipeline.pk, "name": "Contract", "position": 7, "probability": 90}, format="json"
    ).json()["id"]
    client.patch(f"/api/v1/stages/{stage_id}/", {"probability": 95}, format="json")
    client.patch(f"/api/v1/stages/{stage_id}/", {"probability": 95}, format="json")  # no change: no row
    client.delete(f"/api/v1/stages/{stage_id}/")
    reason_id = client.post("/api/v1/lost-reasons/", {"name": "Budget frozen"}, format="json").json()["id"]
    client.patch(f"/api/v1/lost-reasons/{reason_id}/", {"is_active": False}, format="json")
    pipeline_id = client.post("/api/v1/pipelines/", {"name": "Upsell"}, format="json").json()["id"]
    client.patch(f"/api/v1/pipelines/{pipeline_id}/", {"name": "Upsell 2027"}, format="json")

    rows = list(ConfigChange.objects.order_by("pk"))
    assert [(r.content_type.model, r.object_id, r.action) for r in rows] == [
        ("stage", str(stage_id), "create"), ("stage", str(stage_id), "update"), ("stage", str(stage_id), "delete"),
        ("lostreason", str(reason_id), "create"), ("lostreason", str(reason_id), "update"),
        ("pipeline", str(pipeline_id), "create"), ("pipeline", str(pipeline_id), "update"),
    ]
    assert all(r.actor == admin_user for r in rows)
    assert rows[0].changes["probability"] == [None, "90"] and rows[0].changes["pipeline"] == [None, pipeline.name]
    assert rows[1].changes == {"probability": ["90", "95"]}
    assert rows[2].changes["name"] == ["Contract", None]
    assert rows[4].changes == {"is_active": ["True", "False"]}
    assert rows[6].changes == {"name": ["Upsell", "Upsell 2027"]}


def test_a_refused_api_change_writes_no_audit_row(admin_user, rep, stages):
    from accounts.models import ConfigChange

    DealFactory(owner=rep, stage=stages["Offer"])
    client_for(admin_user).patch(f"/api/v1/stages/{stages['Offer'].pk}/", {"kind": "won"}, format="json")
    client_for(admin_user).delete(f"/api/v1/stages/{stages['Offer'].pk}/")
    assert not ConfigChange.objects.filter(content_type__model="stage").exists()


def test_a_new_default_pipeline_through_the_api_takes_the_flag_from_the_old_one(admin_user, pipeline):
    response = client_for(admin_user).post("/api/v1/pipelines/", {"name": "Upsell", "is_default": True}, format="json")
    assert response.status_code == 201
    assert list(Pipeline.objects.filter(is_default=True).values_list("name", flat=True)) == ["Upsell"]
