"""Prepared queries: a move's deal read compiled once per user and reused with other ids must read
exactly what the ORM reads, and never let anyone see more than visible_deals allows."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline import selectors, views
from pipeline.models import Deal
from pipeline.prepared import PreparedQuery
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

COMPARED = (
    "pk", "title", "version", "stage_id", "owner_id", "lead_id", "pipeline_id", "amount", "currency",
    "next_activity_title", "next_activity_due", "next_activity_kind", "onboarding_total", "onboarding_done",
    "lead_is_customer",
)


@pytest.fixture(autouse=True)
def _empty_statements():
    from api import views as api_views

    views._MOVE_READ.clear()
    api_views._MOVE_READ.clear()
    yield
    views._MOVE_READ.clear()
    api_views._MOVE_READ.clear()


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


def orm_read(user, pk, stage_id):
    return list(views._move_read(user, pk=pk, stage=stage_id))


def assert_same(prepared: list, orm: list):
    assert [d.pk for d in prepared] == [d.pk for d in orm]
    for a, b in zip(prepared, orm):
        assert {f: getattr(a, f) for f in COMPARED} == {f: getattr(b, f) for f in COMPARED}
        assert (a.stage, a.lead, a.owner, a.pipeline) == (b.stage, b.lead, b.owner, b.pipeline)
        assert a.stage.name == b.stage.name and a.owner.username == b.owner.username
        assert getattr(a, "target_stage", None) == getattr(b, "target_stage", None)


@pytest.mark.parametrize("reps_see_team", [False, True])
def test_the_prepared_read_sees_exactly_what_the_orm_sees_for_everyone(settings, people, stages, reps_see_team):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": reps_see_team}
    deals = [DealFactory(owner=owner, stage=stages["Qualification"]) for owner in people.values()]
    targets = [stages["Meeting & demo"].pk, stages["Offer"].pk, 999_999]
    # Every person reads every deal twice (the second read runs the prepared statement), with a
    # target stage of the pipeline and one that does not exist.
    seen = {}
    for name, user in people.items():
        key = (selectors.visibility_key(user), "test")
        for deal in deals:
            for target in targets:
                for _ in range(2):
                    prepared = views._MOVE_READ.fetch(key, user, pk=deal.pk, stage=target)
                    assert_same(prepared, orm_read(user, deal.pk, target))
            seen[(name, deal.owner.username)] = bool(prepared)
        # Compared above with the ORM's read, not with itself: the statement was kept.
        assert views._MOVE_READ._statements[key] is not None
    visible = {
        name: {owner for (who, owner), ok in seen.items() if ok and who == name} for name in people
    }
    assert visible["admin"] == {u.username for u in people.values()}
    assert visible["manager"] == {"rita", "tom", "max"}
    assert visible["south manager"] == {"sue", "sam"}
    assert visible["loner"] == {"lou"}
    assert visible["rep"] == ({"rita", "tom", "max"} if reps_see_team else {"rita"})


def test_a_statement_prepared_for_one_user_is_not_used_for_another(client, people, stages):
    """Each person's move compiles their own statement: a rep who moved their own deal still
    gets a 404 for a colleague's, and the colleague's own move still works."""
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


def test_the_prepared_read_runs_one_statement_and_compiles_once(rep, stages):
    deals = [DealFactory(owner=rep, stage=stages["Qualification"]) for _ in range(3)]
    key = (selectors.visibility_key(rep), "test")
    views._MOVE_READ.fetch(key, rep, pk=deals[0].pk, stage=stages["Offer"].pk)
    with CaptureQueriesContext(connection) as captured:
        found = views._MOVE_READ.fetch(key, rep, pk=deals[1].pk, stage=stages["Meeting & demo"].pk)
    assert len(captured) == 1
    assert [d.pk for d in found] == [deals[1].pk] and found[0].target_stage == stages["Meeting & demo"]
    assert list(views._MOVE_READ._statements) == [key] and views._MOVE_READ._statements[key] is not None


def test_a_shape_that_depends_on_the_values_is_never_prepared(rep, stages):
    """When a value changes the SQL itself, the check on first use finds it: that key always
    runs through the ORM, with the right answer."""

    def build(*, pk):
        deals = Deal.objects.filter(owner=rep)
        return deals.filter(pk=pk) if pk > 0 else deals.none()

    query = PreparedQuery(build)
    deal = DealFactory(owner=rep, stage=stages["Qualification"])
    assert [d.pk for d in query.fetch("k", pk=deal.pk)] == [deal.pk]
    assert query._statements["k"] is None
    assert [d.pk for d in query.fetch("k", pk=deal.pk)] == [deal.pk]


def test_only_ids_and_strings_are_accepted_as_values(rep, stages):
    query = PreparedQuery(lambda *, pk: Deal.objects.filter(pk=pk))
    for bad in (1.0, None, True, 2**63, -(2**62), b"1", "\x00stageflow-placeholder-0"):
        with pytest.raises(TypeError):
            query.fetch("k", pk=bad)
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Pilot")
    by_title = PreparedQuery(lambda *, title: Deal.objects.filter(title=title))
    for _ in range(2):
        assert [d.pk for d in by_title.fetch("title", title="Pilot")] == [deal.pk]
        assert by_title.fetch("title", title="Pilot%") == [] and by_title.fetch("title", title="") == []
    assert by_title._statements["title"] is not None


def test_a_string_the_database_receives_changed_is_never_prepared(rep, stages):
    """A lookup that wraps the value (contains: %value%) leaves no slot with the value as given:
    the check on first use refuses to keep it, and the ORM answers."""
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Pilot project")
    query = PreparedQuery(lambda *, text: Deal.objects.filter(title__contains=text))
    assert [d.pk for d in query.fetch("k", text="lot pro")] == [deal.pk]
    assert query._statements["k"] is None
    assert query.fetch("k", text="nothing") == []


def test_the_number_of_kept_statements_is_bounded(rep, stages):
    query = PreparedQuery(lambda *, pk: Deal.objects.filter(pk=pk), size=3)
    deal = DealFactory(owner=rep, stage=stages["Qualification"])
    for key in range(5):
        assert [d.pk for d in query.fetch(key, pk=deal.pk)] == [deal.pk]
    assert list(query._statements) == [2, 3, 4]


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


@pytest.mark.django_db(transaction=True)
def test_a_statement_prepared_in_one_thread_runs_on_another_threads_connection(rep, stages):
    """Threaded servers: the statement compiled by one thread runs on the connection of the
    thread that uses it (Django refuses to share a connection between threads)."""
    import threading

    from django.db import connections

    deals = [DealFactory(owner=rep, stage=stages["Qualification"]) for _ in range(2)]
    key = (selectors.visibility_key(rep), "thread")
    views._MOVE_READ.fetch(key, rep, pk=deals[0].pk, stage=stages["Offer"].pk)
    result = {}

    def other_thread():
        try:
            result["found"] = [d.pk for d in views._MOVE_READ.fetch(key, rep, pk=deals[1].pk, stage=stages["Offer"].pk)]
        except Exception as exc:  # reported below
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert result == {"found": [deals[1].pk]}


def test_changes_of_teams_roles_and_settings_apply_to_the_next_move(client, settings, people, stages):
    """A process keeps each person's statement between requests: what changes in the meantime
    (the teams a manager leads, a rep's team or role, the setting) applies to the very next move."""
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


@pytest.mark.parametrize("reps_see_team", [False, True])
def test_the_apis_prepared_read_sees_exactly_what_the_orm_sees_for_everyone(settings, people, stages, reps_see_team):
    """The API's move reads the deal with its own statement (stage, lead, owner and pipeline, no
    card annotations): the same comparison with the ORM for every kind of user."""
    from api import views as api_views

    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": reps_see_team}
    deals = [DealFactory(owner=owner, stage=stages["Qualification"]) for owner in people.values()]
    for user in people.values():
        key = (selectors.visibility_key(user),)
        for deal in deals:
            for target in (stages["Offer"].pk, 999_999):
                for _ in range(2):
                    prepared = api_views._MOVE_READ.fetch(key, user, pk=deal.pk, stage=target)
                    orm = list(api_views._move_read(user, pk=deal.pk, stage=target))
                    assert [d.pk for d in prepared] == [d.pk for d in orm]
                    for a, b in zip(prepared, orm):
                        assert (a.version, a.owner_id, a.stage_id, a.lead_id) == (b.version, b.owner_id, b.stage_id, b.lead_id)
                        assert (a.stage, a.lead, a.owner, a.pipeline) == (b.stage, b.lead, b.owner, b.pipeline)
                        assert (a.stage.name, a.owner.username, a.lead.name) == (b.stage.name, b.owner.username, b.lead.name)
                        assert getattr(a, "target_stage", None) == getattr(b, "target_stage", None)
        assert api_views._MOVE_READ._statements[key] is not None
