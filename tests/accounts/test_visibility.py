"""Who sees and changes what: the selectors in pipeline/selectors.py."""
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from pipeline import selectors
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(stages):
    """Two teams. North: manager max, reps rita and tom. South: manager sam, rep olga."""
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    people = {
        "max": UserFactory(username="max", role="manager", team=north),
        "rita": UserFactory(username="rita", role="rep", team=north),
        "tom": UserFactory(username="tom", role="rep", team=north),
        "sam": UserFactory(username="sam", role="manager", team=south),
        "olga": UserFactory(username="olga", role="rep", team=south),
        "ada": UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True),
        "lone": UserFactory(username="lone", role="rep", team=None),
    }
    north.manager, south.manager = people["max"], people["sam"]
    north.save(), south.save()
    deals = {name: DealFactory(owner=people[name], title=f"{name}'s deal") for name in ("rita", "tom", "olga", "max", "lone")}
    return people, deals


def titles(qs):
    return sorted(d.title.split("'")[0] for d in qs)


@pytest.mark.parametrize(
    ("who", "team_setting", "expected"),
    [
        ("rita", True, ["max", "rita", "tom"]),
        ("rita", False, ["rita"]),
        ("max", True, ["max", "rita", "tom"]),
        ("max", False, ["max", "rita", "tom"]),
        ("sam", True, ["olga"]),
        ("olga", True, ["olga"]),
        ("lone", True, ["lone"]),
        ("ada", True, ["lone", "max", "olga", "rita", "tom"]),
    ],
)
def test_visible_deals(org, settings, who, team_setting, expected):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": team_setting}
    people, _ = org
    assert titles(selectors.visible_deals(people[who])) == expected


@pytest.mark.parametrize(
    ("who", "changeable"),
    [
        ("rita", ["rita"]),
        ("tom", ["tom"]),
        ("max", ["max", "rita", "tom"]),
        ("sam", ["olga"]),
        ("olga", ["olga"]),
        ("ada", ["lone", "max", "olga", "rita", "tom"]),
    ],
)
def test_can_change_deal(org, who, changeable):
    people, deals = org
    assert sorted(name for name, deal in deals.items() if selectors.can_change_deal(people[who], deal)) == changeable


def test_anonymous_and_deactivated_users_see_and_change_nothing(org):
    people, deals = org
    gone = people["ada"]
    gone.is_active = False
    gone.save()
    for user in (AnonymousUser(), gone):
        assert not selectors.visible_deals(user).exists()
        assert not selectors.visible_organizations(user).exists()
        assert not selectors.visible_users(user).exists()
        assert not selectors.assignable_users(user).exists()
        assert not selectors.visible_pipelines(user).exists()
        assert not selectors.can_change_deal(user, deals["rita"])
        assert not selectors.can_change_organization(user, deals["rita"].organization)


def test_managers_reassign_only_within_their_team(org):
    people, deals = org
    assert selectors.can_reassign_deal(people["max"], deals["rita"], people["tom"])
    assert not selectors.can_reassign_deal(people["max"], deals["rita"], people["olga"])
    assert not selectors.can_reassign_deal(people["max"], deals["olga"], people["rita"])  # not his deal to give
    assert not selectors.can_reassign_deal(people["rita"], deals["rita"], people["tom"])  # reps keep their deals
    assert selectors.can_reassign_deal(people["ada"], deals["olga"], people["rita"])
    assert sorted(u.username for u in selectors.assignable_users(people["max"])) == ["max", "rita", "tom"]
    assert [u.username for u in selectors.assignable_users(people["rita"])] == ["rita"]


def test_deactivated_people_are_not_offered_as_owners(org):
    people, _ = org
    people["tom"].is_active = False
    people["tom"].save()
    assert "tom" not in {u.username for u in selectors.assignable_users(people["max"])}
    assert "tom" not in {u.username for u in selectors.visible_users(people["rita"])}


def test_owner_filter_choices_are_the_people_the_user_may_see(org, settings):
    people, _ = org
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    assert sorted(u.username for u in selectors.visible_users(people["rita"])) == ["max", "rita", "tom"]
    assert sorted(u.username for u in selectors.visible_users(people["sam"])) == ["olga", "sam"]
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    assert [u.username for u in selectors.visible_users(people["rita"])] == ["rita"]


def test_organization_visibility_follows_owners_and_deals(org, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    people, deals = org
    pool = OrganizationFactory(name="Pool lead")  # no owner, no deal yet
    olgas = OrganizationFactory(name="Olga's lead", owner=people["olga"])
    behind_olgas_deal = deals["olga"].organization  # unowned lead used by a South deal
    rita = people["rita"]
    visible = set(selectors.visible_organizations(rita))
    assert pool in visible and deals["rita"].organization in visible
    assert olgas not in visible and behind_olgas_deal not in visible
    assert deals["tom"].organization not in visible  # teammates' deals hidden with the setting off
    sam_sees = set(selectors.visible_organizations(people["sam"]))
    assert {olgas, behind_olgas_deal, pool} <= sam_sees and deals["rita"].organization not in sam_sees
    assert selectors.can_change_organization(rita, pool)
    assert not selectors.can_change_organization(rita, behind_olgas_deal)
    assert selectors.can_change_organization(people["sam"], olgas) and not selectors.can_change_organization(people["max"], olgas)


def test_deal_for_user_or_404_answers_404_for_hidden_and_403_for_read_only(org, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    people, deals = org
    tom, rita_deal = people["tom"], deals["rita"]
    assert selectors.deal_for_user_or_404(tom, rita_deal.pk) == rita_deal
    with pytest.raises(PermissionDenied):
        selectors.deal_for_user_or_404(tom, rita_deal.pk, change=True)
    with pytest.raises(Http404):
        selectors.deal_for_user_or_404(people["olga"], rita_deal.pk)
    with pytest.raises(Http404):
        selectors.deal_for_user_or_404(people["olga"], rita_deal.pk, change=True)  # 404 wins over 403
    for bad in (10**9, "abc", None):
        with pytest.raises(Http404):
            selectors.deal_for_user_or_404(people["ada"], bad)
    assert selectors.deal_for_user_or_404(people["max"], rita_deal.pk, change=True) == rita_deal


def test_organization_for_user_or_404(org, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    people, deals = org
    organization = deals["rita"].organization
    assert selectors.organization_for_user_or_404(people["tom"], organization.pk) == organization
    with pytest.raises(PermissionDenied):
        selectors.organization_for_user_or_404(people["tom"], organization.pk, change=True)
    with pytest.raises(Http404):
        selectors.organization_for_user_or_404(people["sam"], organization.pk)


def test_visibility_checks_cost_few_queries(org, django_assert_max_num_queries):
    people, deals = org
    with django_assert_max_num_queries(1):
        list(selectors.visible_deals(people["max"]))
    with django_assert_max_num_queries(1):
        list(selectors.visible_organizations(people["max"]))
    deal = selectors.visible_deals(people["max"]).select_related("owner").get(pk=deals["rita"].pk)
    with django_assert_max_num_queries(1):
        assert selectors.can_change_deal(people["max"], deal)
