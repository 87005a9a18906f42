"""Roles are Django groups; `user_set_role` keeps role, group and admin flags in agreement;
`create_user` creates people with a role and a team."""
import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.models import ConfigChange, Role, Team, User
from accounts.roles import ROLE_GROUP_NAMES
from accounts.services import user_create, user_set_role, user_set_team
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migration_creates_one_group_per_role_with_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= {"rep", "manager", "admin"}
    rep, manager, admin = perms("rep"), perms("manager"), perms("admin")
    assert {"pipeline.change_deal", "pipeline.add_deal", "pipeline.view_stage"} <= rep
    assert "pipeline.change_stage" not in rep and "pipeline.delete_deal" not in rep
    assert "accounts.reassign_team_deals" not in rep and "accounts.view_team_forecast" not in rep
    assert rep < manager
    assert {"accounts.reassign_team_deals", "accounts.view_team_forecast", "accounts.view_user"} <= manager
    assert "pipeline.change_stage" not in manager and "accounts.change_user" not in manager
    assert manager < admin
    assert {"pipeline.change_stage", "pipeline.delete_transition", "accounts.change_user", "auth.change_group",
            "accounts.view_configchange"} <= admin


def test_rep_and_manager_permissions_reach_the_user_through_the_group():
    rep = User.objects.get(pk=user_create(username="rosa", role="rep")[0].pk)
    manager = User.objects.get(pk=user_create(username="mick", role="manager")[0].pk)
    assert rep.has_perm("pipeline.change_deal") and not rep.has_perm("accounts.reassign_team_deals")
    assert manager.has_perm("accounts.reassign_team_deals") and not manager.has_perm("pipeline.change_stage")


@pytest.mark.parametrize("role", ["rep", "manager", "admin"])
def test_set_role_puts_the_user_in_exactly_that_role_group(role):
    user = UserFactory(role=Role.REP)
    extra = Group.objects.create(name="newsletter")
    user.groups.add(extra, Group.objects.get(name="manager"))  # a stale second role group
    user_set_role(user=user, role=role, actor=None)
    user.refresh_from_db()
    assert user.role == role
    names = set(user.groups.values_list("name", flat=True))
    assert names & set(ROLE_GROUP_NAMES.values()) == {role}
    assert "newsletter" in names  # extra groups stay


def test_admin_role_grants_staff_and_superuser_and_losing_it_removes_them(admin_user):
    user = UserFactory(role=Role.REP)
    user_set_role(user=user, role=Role.ADMIN, actor=admin_user)
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser and user.is_admin
    user_set_role(user=user, role=Role.MANAGER, actor=admin_user)
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser and not user.is_admin and user.is_manager


def test_role_change_is_recorded_with_actor_and_old_and_new_values(admin_user):
    user = UserFactory(role=Role.REP)
    user_set_role(user=user, role=Role.MANAGER, actor=admin_user)
    change = ConfigChange.objects.get(object_id=str(user.pk))
    assert change.actor == admin_user and change.action == "update"
    assert change.changes == {"role": ["rep", "manager"]}
    user_set_role(user=user, role=Role.MANAGER, actor=admin_user)  # no change, no row
    assert ConfigChange.objects.filter(object_id=str(user.pk)).count() == 1


def test_unknown_role_is_refused():
    user = UserFactory(role=Role.REP)
    with pytest.raises(ValidationError):
        user_set_role(user=user, role="boss", actor=None)


def test_team_change_is_recorded(admin_user):
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    user = UserFactory(team=north)
    user_set_team(user=user, team=south, actor=admin_user)
    user.refresh_from_db()
    assert user.team == south
    assert ConfigChange.objects.get(object_id=str(user.pk)).changes == {"team": ["North", "South"]}


# --- create_user --------------------------------------------------------------------------------


def test_create_user_with_password_creates_the_team_and_role(capsys):
    call_command("create_user", "rita", "--role", "rep", "--team", "North", "--password", "Plum-tree-42!", "--email", "r@example.com")
    user = User.objects.get(username="rita")
    assert user.role == "rep" and user.team.name == "North" and user.email == "r@example.com"
    assert user.check_password("Plum-tree-42!")
    assert list(user.groups.values_list("name", flat=True)) == ["rep"]
    assert not user.is_staff and not user.is_superuser
    out = capsys.readouterr().out
    assert "Created rep “rita” in team North." in out and "Plum-tree-42!" not in out


def test_create_user_without_password_prints_a_generated_one_that_works(capsys):
    call_command("create_user", "max", "--role", "manager", "--team", "North")
    out = capsys.readouterr().out
    password = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Password: "))
    user = User.objects.get(username="max")
    assert user.check_password(password) and len(password) >= 12
    # The first manager of a new team becomes its manager.
    assert Team.objects.get(name="North").manager == user


def test_create_user_admin_gets_full_configuration_access():
    call_command("create_user", "ada", "--role", "admin", "--password", "Plum-tree-42!")
    user = User.objects.get(username="ada")
    assert user.is_staff and user.is_superuser and user.role == "admin"


def test_create_user_joins_an_existing_team():
    team = TeamFactory(name="South")
    call_command("create_user", "sam", "--role", "rep", "--team", "South", "--password", "Plum-tree-42!")
    assert User.objects.get(username="sam").team == team
    assert Team.objects.filter(name="South").count() == 1


def test_create_user_refuses_an_unknown_role_with_a_clear_message():
    with pytest.raises(CommandError, match="Unknown role “boss”. Choose one of: rep, manager, admin."):
        call_command("create_user", "bob", "--role", "boss")
    assert not User.objects.filter(username="bob").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [("12345678", "too common"), ("short", "too short"), ("bobbobbob1", "too similar")],
)
def test_create_user_refuses_weak_passwords(password, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_user", "bobbobbob", "--role", "rep", "--team", "East", "--password", password)
    assert not User.objects.filter(username="bobbobbob").exists()
    assert not Team.objects.filter(name="East").exists()


def test_create_user_refuses_a_taken_name(rep):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", rep.username.upper(), "--role", "rep", "--password", "Plum-tree-42!")


def test_create_user_is_audited():
    call_command("create_user", "sam", "--role", "manager", "--team", "South", "--password", "Plum-tree-42!")
    rows = {(c.content_type.model, c.action) for c in ConfigChange.objects.select_related("content_type")}
    assert {("user", "create"), ("team", "create"), ("team", "update")} <= rows
    assert all(c.actor_label == "create_user command" for c in ConfigChange.objects.all())


def test_demo_users_are_in_their_role_groups(pipeline):
    from pipeline.demo import demo_users_ensure

    users = demo_users_ensure()
    assert users
    for user in users.values():
        assert list(user.groups.values_list("name", flat=True)) == [user.role]


def test_forecast_permissions_reach_reps_and_managers():
    assert {"forecasting.view_forecastsnapshot", "forecasting.view_quota"} <= perms("rep")
    assert "forecasting.change_quota" not in perms("manager")
    assert "forecasting.view_learnedprobability" in perms("manager")
    assert "forecasting.change_quota" in perms("admin")


def test_a_user_to_invite_later_gets_no_password_at_all(monkeypatch):
    from django.contrib.auth import hashers

    def no_hashing(*args, **kwargs):
        raise AssertionError("no password may be generated or hashed for a user without one")

    monkeypatch.setattr(hashers, "make_password", no_hashing)
    monkeypatch.setattr("accounts.services.password_generate", no_hashing)
    user, password, generated = user_create(username="later", role="rep", unusable_password=True)
    user = User.objects.get(pk=user.pk)
    assert (password, generated, user.has_usable_password()) == ("", False, False)
    assert user.groups.filter(name="rep").exists()
