"""Admins manage users, teams and roles in the admin; configuration changes land in the
append-only audit trail, which admins can read and nobody can edit."""
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from accounts.audit import AuditedAdminMixin
from accounts.models import ConfigChange, User
from accounts.services import config_change_record
from pipeline.models import LostReason, Pipeline, Stage
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def user_form(user, **changes):
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "role": user.role, "team": user.team_id or "", "is_active": "on",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_changing_the_role_in_the_admin_uses_the_role_service(admin_client, admin_user, rep):
    response = admin_client.post(reverse("admin:accounts_user_change", args=[rep.pk]), user_form(rep, role="admin"))
    assert response.status_code == 302, response.content.decode()[:2000]
    rep.refresh_from_db()
    assert rep.role == "admin" and rep.is_staff and rep.is_superuser
    assert list(rep.groups.values_list("name", flat=True)) == ["admin"]
    change = ConfigChange.objects.get(object_id=str(rep.pk), changes__has_key="role")
    assert change.actor == admin_user
    assert change.changes["role"] == ["rep", "admin"] and change.changes["is_superuser"] == ["False", "True"]


def test_ticking_a_role_group_by_hand_cannot_desync_the_role(admin_client, rep):
    # The group list offers only extra groups; a role group posted anyway is replaced by the role's.
    manager_group = Group.objects.get(name="manager")
    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[rep.pk]), user_form(rep, groups=[manager_group.pk])
    )
    assert response.status_code == 200  # refused: not a valid choice
    rep.refresh_from_db()
    assert list(rep.groups.values_list("name", flat=True)) == ["rep"]


def test_moving_a_user_to_another_team_in_the_admin_is_audited(admin_client, rep):
    south = TeamFactory(name="South")
    response = admin_client.post(reverse("admin:accounts_user_change", args=[rep.pk]), user_form(rep, team=south.pk))
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.team == south
    assert ConfigChange.objects.get(object_id=str(rep.pk)).changes == {"team": ["North", "South"]}


def test_adding_a_user_in_the_admin_gives_the_role_group_and_records_it(admin_client, team):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {"username": "mona", "usable_password": "true", "password1": "Plum-tree-42!", "password2": "Plum-tree-42!",
         "email": "mona@example.com", "role": "manager", "team": team.pk},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    mona = User.objects.get(username="mona")
    assert mona.role == "manager" and mona.team == team and not mona.is_staff
    assert list(mona.groups.values_list("name", flat=True)) == ["manager"]
    created = ConfigChange.objects.get(object_id=str(mona.pk), action="create")
    assert created.changes["role"] == [None, "manager"] and created.changes["team"] == [None, "North"]


def test_team_manager_change_in_the_admin_is_audited(admin_client, team, manager):
    other = UserFactory(username="mia", role="manager")
    response = admin_client.post(reverse("admin:accounts_team_change", args=[team.pk]), {"name": "North", "manager": other.pk})
    assert response.status_code == 302
    row = ConfigChange.objects.get(object_id=str(team.pk))
    assert row.changes == {"manager": [str(manager), str(other)]}


def test_team_manager_must_be_a_manager_or_admin(admin_client, team, rep):
    response = admin_client.post(reverse("admin:accounts_team_change", args=[team.pk]), {"name": "North", "manager": rep.pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()


def test_audit_trail_is_read_only_in_the_admin_and_visible_to_admins(admin_client, admin_user, team):
    row = config_change_record(instance=team, action="update", changes={"name": ["Nord", "North"]}, actor=admin_user)
    listing = admin_client.get(reverse("admin:accounts_configchange_changelist"))
    assert listing.status_code == 200 and "Nord → North" in listing.content.decode()
    detail = admin_client.get(reverse("admin:accounts_configchange_change", args=[row.pk]))
    assert detail.status_code == 200 and "Save" not in detail.content.decode().split("submit-row")[-1][:200]
    assert admin_client.post(reverse("admin:accounts_configchange_change", args=[row.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:accounts_configchange_delete", args=[row.pk])).status_code == 403
    assert admin_client.get(reverse("admin:accounts_configchange_add")).status_code == 403


def test_audit_rows_cannot_be_changed_or_deleted(admin_user, team):
    row = config_change_record(instance=team, action="update", changes={"name": ["a", "b"]}, actor=admin_user)
    row.changes = {}
    with pytest.raises(ValueError):
        row.save()
    with pytest.raises(ValueError):
        row.delete()


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_cannot_open_the_admin(client, role, team):
    user = UserFactory(role=role, team=team)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- The mixin on the pipeline's configuration models --------------------------------------------


class StageAuditAdmin(AuditedAdminMixin, admin.ModelAdmin):
    pass


class LostReasonAuditAdmin(AuditedAdminMixin, admin.ModelAdmin):
    pass


def admin_request(user):
    request = RequestFactory().post("/admin/")
    request.user = user
    return request


def test_mixin_records_stage_changes_with_old_and_new_values(admin_user, stages):
    model_admin = StageAuditAdmin(Stage, admin.site)
    stage = Stage.objects.get(pk=stages["Offer"].pk)
    stage.probability, stage.rotting_days = 55, 10
    model_admin.save_model(admin_request(admin_user), stage, form=None, change=True)
    row = ConfigChange.objects.get()
    assert (row.actor, row.action, row.object_repr, row.object_id) == (admin_user, "update", "Offer", str(stage.pk))
    assert row.changes == {"probability": ["60", "55"], "rotting_days": ["21", "10"]}


def test_mixin_records_creation_and_deletion(admin_user, pipeline):
    model_admin = LostReasonAuditAdmin(LostReason, admin.site)
    reason = LostReason(name="Merged with another project", position=9)
    model_admin.save_model(admin_request(admin_user), reason, form=None, change=False)
    pk = reason.pk
    model_admin.delete_model(admin_request(admin_user), reason)
    created, deleted = ConfigChange.objects.order_by("pk")
    assert created.action == "create" and created.changes["name"] == [None, "Merged with another project"]
    assert deleted.action == "delete" and deleted.object_id == str(pk)
    assert deleted.changes["name"] == ["Merged with another project", None]


def test_mixin_saving_without_changes_writes_nothing(admin_user, stages):
    StageAuditAdmin(Stage, admin.site).save_model(admin_request(admin_user), stages["Offer"], form=None, change=True)
    assert not ConfigChange.objects.exists()


@pytest.mark.urls("tests.accounts.audit_admin_urls")
def test_mixin_records_inline_rows_created_changed_and_deleted(client, admin_user):
    pipeline = Pipeline.objects.create(name="Upsell", position=1)
    first = Stage.objects.create(pipeline=pipeline, name="Talk", position=0, probability=10)
    second = Stage.objects.create(pipeline=pipeline, name="Sign", position=1, probability=90, kind="won")
    client.force_login(admin_user)

    def row(i, stage=None, **values):
        base = {"id": stage.pk if stage else "", "pipeline": pipeline.pk, "name": "", "position": i,
                "probability": 10, "kind": "open", "rotting_days": "", "colour": "#6c757d"}
        if stage:
            base.update(name=stage.name, position=stage.position, probability=stage.probability, kind=stage.kind)
        base.update(values)
        return {f"stages-{i}-{k}": v for k, v in base.items()}

    data = {
        "name": "Upsell", "position": 1, "is_active": "on",
        "stages-TOTAL_FORMS": 3, "stages-INITIAL_FORMS": 2, "stages-MIN_NUM_FORMS": 0, "stages-MAX_NUM_FORMS": 1000,
        **row(0, first, probability=15),
        **row(1, second, DELETE="on"),
        **row(2, name="Offer", position=2, probability=50),
    }
    response = client.post(f"/admin/pipeline/pipeline/{pipeline.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rows = {(c.object_repr, c.action): c for c in ConfigChange.objects.all()}
    assert rows[("Talk", "update")].changes == {"probability": ["10", "15"]}
    assert rows[("Sign", "delete")].object_id == str(second.pk)
    assert rows[("Sign", "delete")].changes["kind"] == ["won", None]
    assert rows[("Offer", "create")].changes["probability"] == [None, "50"]
    assert ("Upsell", "update") not in rows  # the pipeline itself did not change
    assert all(c.actor == admin_user for c in rows.values())


# --- The pipeline's admin is audited ------------------------------------------------------------------


def test_changing_a_stage_in_the_pipeline_admin_is_audited(admin_client, admin_user, stages):
    stage = stages["Offer"]
    page = admin_client.get(reverse("admin:pipeline_stage_change", args=[stage.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(probability=65, name="Proposal")
    response = admin_client.post(reverse("admin:pipeline_stage_change", args=[stage.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    row = ConfigChange.objects.get(object_id=str(stage.pk))
    assert row.actor == admin_user and row.action == "update" and row.object_repr == "Proposal"
    assert row.changes == {"name": ["Offer", "Proposal"], "probability": ["60", "65"]}


def test_adding_and_deleting_a_lost_reason_in_the_pipeline_admin_is_audited(admin_client, pipeline):
    response = admin_client.post(
        reverse("admin:pipeline_lostreason_add"), {"name": "Merged with a competitor", "position": 20, "is_active": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    reason = LostReason.objects.get(name="Merged with a competitor")
    response = admin_client.post(reverse("admin:pipeline_lostreason_delete", args=[reason.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not LostReason.objects.filter(pk=reason.pk).exists()
    actions = list(ConfigChange.objects.filter(object_id=str(reason.pk)).order_by("pk").values_list("action", flat=True))
    assert actions == ["create", "delete"]


def test_transition_changes_in_the_pipeline_admin_are_audited(admin_client, stages):
    from pipeline.models import Transition

    transition = Transition.objects.get(to_stage=stages["Offer"], from_stage__isnull=True)
    page = admin_client.get(reverse("admin:pipeline_transition_change", args=[transition.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data["requires_next_step"] = "on"
    response = admin_client.post(reverse("admin:pipeline_transition_change", args=[transition.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    row = ConfigChange.objects.get(object_id=str(transition.pk))
    assert row.changes == {"requires_next_step": ["False", "True"]}


def test_ideal_customer_profile_and_quota_changes_are_audited(admin_user, rep):
    from datetime import date
    from decimal import Decimal

    from forecasting.admin import QuotaAdmin
    from forecasting.models import Quota
    from qualification.admin import ProfileAdmin
    from qualification.models import Profile

    profile = Profile.objects.filter(is_active=True).first() or Profile.objects.create(name="ICP")
    profile.description = "Mid-sized software companies"
    ProfileAdmin(Profile, admin.site).save_model(admin_request(admin_user), profile, form=None, change=True)
    row = ConfigChange.objects.get(object_id=str(profile.pk), content_type__model="profile")
    assert set(row.changes) == {"description"}  # not the automatic "updated" time

    quota = Quota(user=rep, period_start=date(2026, 10, 1), amount=Decimal("50000.00"), currency="EUR")
    QuotaAdmin(Quota, admin.site).save_model(admin_request(admin_user), quota, form=None, change=False)
    created = ConfigChange.objects.get(content_type__model="quota")
    assert created.action == "create" and created.changes["amount"] == [None, "50000.00"]
