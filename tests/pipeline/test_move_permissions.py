"""Who may move which deal through the board: 404 for a deal the user may not see, 403 for one
they may only see, whatever the stage says, and always as the user, teams and settings are now."""
import pytest
from django.urls import reverse

from pipeline.models import Deal
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(team, rep, manager, admin_user):
    south = TeamFactory(name="South")
    return {
        "rep": rep,
        "teammate": UserFactory(username="tom", role="rep", team=team),
        "manager": manager,
        "admin": admin_user,
        "south rep": UserFactory(username="sue", role="rep", team=south),
        "south manager": UserFactory(username="sam", role="manager", team=south),
        "loner": UserFactory(username="lou", role="rep", team=None),
        "manager without a team": UserFactory(username="mona", role="manager", team=None),
    }


def test_a_rep_moves_their_own_deal_and_gets_404_for_a_colleagues(client, people, stages):
    """A rep who moved their own deal still gets a 404 for a colleague's, and the colleague's own
    move still works."""
    own = DealFactory(owner=people["rep"], stage=stages["Qualification"])
    other = DealFactory(owner=people["south rep"], stage=stages["Qualification"])

    def move(user, deal):
        client.force_login(user)
        return client.post(
            reverse("pipeline:deal_move", args=[deal.pk]),
            {"stage": stages["Meeting & demo"].pk, "version": deal.version}, HTTP_HX_REQUEST="true",
        )

    assert move(people["rep"], own).status_code == 200
    assert move(people["rep"], other).status_code == 404
    assert move(people["south rep"], own).status_code == 404
    assert move(people["south rep"], other).status_code == 200
    assert Deal.objects.get(pk=other.pk).stage == stages["Meeting & demo"]


def test_a_teammate_sees_but_cannot_move(client, settings, people, stages):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    theirs = DealFactory(owner=people["teammate"], stage=stages["Qualification"])
    client.force_login(people["rep"])
    url = reverse("pipeline:deal_move", args=[theirs.pk])
    response = client.post(url, {"stage": stages["Meeting & demo"].pk, "version": 1}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert Deal.objects.get(pk=theirs.pk).stage == stages["Qualification"]


def test_a_move_with_an_out_of_range_stage_or_deal_is_refused_cleanly(client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Qualification"])
    client.force_login(rep)
    url = reverse("pipeline:deal_move", args=[deal.pk])
    for stage in (0, -5, 2**63, 10**30):
        response = client.post(url, {"stage": stage, "version": 1}, HTTP_HX_REQUEST="true")
        assert response.status_code == 400
        assert "This stage does not exist." in response.content.decode()
    huge = "/pipeline/deals/99999999999999999999999/move/"
    assert client.post(huge, {"stage": stages["Offer"].pk, "version": 1}, HTTP_HX_REQUEST="true").status_code == 404
    assert Deal.objects.get(pk=deal.pk).version == 1


def test_changes_of_teams_roles_and_settings_apply_to_the_next_move(client, settings, people, stages):
    """What changes between two moves (the teams a manager leads, a rep's team or role, the
    setting) applies to the very next move."""
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    south = people["south rep"].team
    north_deal = DealFactory(owner=people["teammate"], stage=stages["Qualification"])
    south_deal = DealFactory(owner=people["south rep"], stage=stages["Qualification"])

    def move(user, deal):
        client.force_login(user)
        return client.post(
            reverse("pipeline:deal_move", args=[deal.pk]),
            {"stage": stages["Meeting & demo"].pk, "version": Deal.objects.get(pk=deal.pk).version},
            HTTP_HX_REQUEST="true",
        ).status_code

    mona = people["manager without a team"]
    south.manager = mona
    south.save()
    assert move(mona, south_deal) == 200
    south.manager = None  # she no longer leads South
    south.save()
    assert move(mona, south_deal) == 404

    rep = people["rep"]
    assert (move(rep, north_deal), move(rep, south_deal)) == (403, 404)
    rep.team = south  # a rep who changes teams sees the new team's deals, not the old one's
    rep.save()
    assert (move(rep, north_deal), move(rep, south_deal)) == (404, 403)
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    assert move(rep, south_deal) == 404
    rep.role = "manager"  # promoted: changes the deals of the team they belong to
    rep.save()
    assert move(rep, south_deal) == 200
    rep.role = "rep"
    rep.save()
    assert move(rep, south_deal) == 404


@pytest.mark.parametrize("stage", ["x", 0, 2**63, 999_999, "other pipeline", None])
def test_a_move_the_user_may_not_make_is_refused_before_its_stage_is_checked(client, settings, people, stages, stage):
    """404 for a deal the user may not see and 403 for one they may only see, whatever the stage
    says (the board's move, as the API's)."""
    from pipeline.models import Pipeline, Stage

    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    if stage == "other pipeline":
        stage = Stage.objects.create(pipeline=Pipeline.objects.create(name="Upsell"), name="Elsewhere").pk
    theirs = DealFactory(owner=people["teammate"], stage=stages["Qualification"])
    body = {"version": 1} if stage is None else {"stage": stage, "version": 1}
    url = reverse("pipeline:deal_move", args=[theirs.pk])
    for user, status in ((people["rep"], 403), (people["south rep"], 404), (people["south manager"], 404)):
        client.force_login(user)
        assert client.post(url, body, HTTP_HX_REQUEST="true").status_code == status
    assert Deal.objects.get(pk=theirs.pk).version == 1
