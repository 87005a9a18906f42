"""Writes to users, teams, roles and the configuration audit trail.

`user_set_role` is the one owner of a user's role: it keeps `User.role`, the role group and the
staff/superuser flags in agreement. `config_change_record` is the one writer of `ConfigChange`.
"""
import secrets
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import ConfigAction, ConfigChange, Role, Team, User
from .roles import ROLE_GROUP_NAMES

# --- The audit trail --------------------------------------------------------------------------

# Never copied into the audit trail: secrets and bookkeeping that changes on every sign-in.
AUDIT_ALWAYS_EXCLUDED = frozenset({"password", "last_login"})


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def model_snapshot(instance: models.Model, *, exclude=()) -> dict[str, str | None]:
    """The instance's concrete field values as text, foreign keys as the related object's name."""
    snapshot = {}
    excluded = AUDIT_ALWAYS_EXCLUDED | set(exclude)
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in excluded:
            continue
        if field.is_relation:
            related_id = getattr(instance, field.attname)
            value = getattr(instance, field.name) if related_id is not None else None
        else:
            value = getattr(instance, field.attname)
        snapshot[field.name] = _as_text(value)
    return snapshot


def snapshot_diff(before: dict | None, after: dict | None) -> dict[str, list]:
    """{field: [old, new]} for the fields that differ; a missing side means create or delete."""
    before, after = before or {}, after or {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def config_change_record(
    *,
    instance: models.Model,
    action: str,
    changes: dict[str, list],
    actor=None,
    actor_label: str = "",
    at: datetime | None = None,
    object_id=None,
) -> ConfigChange:
    """Append one row to the configuration audit trail. The only writer of ConfigChange."""
    if action not in ConfigAction.values:
        raise ValueError(f"Unknown audit action {action!r}")
    return ConfigChange.objects.create(
        at=at or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label[:200],
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
        object_id=str(object_id if object_id is not None else instance.pk),
        object_repr=str(instance)[:200],
        action=action,
        changes=changes,
    )


def config_changes_record_many(
    *, rows: list[tuple[models.Model, str, dict]], actor=None, actor_label: str = "", batch_size: int = 1000
) -> None:
    """Append many rows at once — (instance, action, changes) each — for bulk writes such as an
    import: the same rows as config_change_record, in a few INSERTs."""
    if any(action not in ConfigAction.values for _instance, action, _changes in rows):
        raise ValueError("Unknown audit action")
    at = timezone.now()
    ConfigChange.objects.bulk_create(
        [
            ConfigChange(
                at=at,
                actor=actor if getattr(actor, "pk", None) else None,
                actor_label=actor_label[:200],
                content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
                object_id=str(instance.pk),
                object_repr=str(instance)[:200],
                action=action,
                changes=changes,
            )
            for instance, action, changes in rows
        ],
        batch_size=batch_size,
    )


def config_changes_scrub(*, rows: list[ConfigChange]) -> int:
    """Store these audit rows with the `changes` and `object_repr` the caller scrubbed in memory:
    the one exception to the append-only trail, for erasing a person's personal data on request
    (pipeline.privacy), which must reach the values that name them in the history as well. Nothing
    else of a row changes: when, who, which record, which action. Returns how many were written."""
    rows = [row for row in rows if row.pk is not None]
    if rows:
        ConfigChange.objects.bulk_update(rows, ["changes", "object_repr"], batch_size=500)
    return len(rows)


# --- Roles and teams -----------------------------------------------------------------------------


def _role_clean(role) -> str:
    if role not in Role.values:
        raise ValidationError(
            _("“%(role)s” is not a role. Choose one of: %(roles)s.") % {"role": role, "roles": ", ".join(Role.values)},
            code="invalid_role",
        )
    return str(role)


def role_group(role: str) -> Group:
    group = Group.objects.filter(name=ROLE_GROUP_NAMES[role]).first()
    if group is None:  # a database flushed after migrate: recreate the groups
        from django.contrib.auth.models import Permission

        from .roles import role_groups_sync

        role_groups_sync(Group=Group, Permission=Permission)
        group = Group.objects.get(name=ROLE_GROUP_NAMES[role])
    return group


def _role_group_apply(user: User, role: str) -> None:
    wanted = role_group(role)
    other_roles = user.groups.filter(name__in=ROLE_GROUP_NAMES.values()).exclude(pk=wanted.pk)
    if other_roles.exists():
        user.groups.remove(*other_roles)
    user.groups.add(wanted)


def user_role_group_sync(*, user: User) -> None:
    """Put a user whose role was set directly (demo data, imports) into their role's group."""
    _role_group_apply(user, user.role)


@transaction.atomic
def user_set_role(*, user: User, role: str, actor=None, actor_label: str = "") -> User:
    """Give `user` the role: its group (and no other role group), and staff and superuser status
    for admins only. Records the change in the audit trail. Returns the user, updated."""
    role = _role_clean(role)
    locked = User.objects.select_for_update().get(pk=user.pk)
    is_admin = role == Role.ADMIN
    before = {"role": locked.role, "is_staff": str(locked.is_staff), "is_superuser": str(locked.is_superuser)}
    locked.role, locked.is_staff, locked.is_superuser = role, is_admin, is_admin
    after = {"role": locked.role, "is_staff": str(locked.is_staff), "is_superuser": str(locked.is_superuser)}
    changes = snapshot_diff(before, after)
    if changes:
        locked.save(update_fields=["role", "is_staff", "is_superuser"])
        config_change_record(
            instance=locked, action=ConfigAction.UPDATE, changes=changes, actor=actor, actor_label=actor_label
        )
    _role_group_apply(locked, role)
    user.role, user.is_staff, user.is_superuser = locked.role, locked.is_staff, locked.is_superuser
    return user


@transaction.atomic
def user_set_team(*, user: User, team: Team | None, actor=None, actor_label: str = "") -> User:
    """Move `user` into `team` (a user belongs to one team, or none) and record it."""
    # No select_related: PostgreSQL refuses FOR UPDATE on the nullable side of an outer join.
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.team_id == (team.pk if team else None):
        return user
    changes = {"team": [_as_text(locked.team), _as_text(team)]}
    locked.team = team
    locked.save(update_fields=["team"])
    config_change_record(
        instance=locked, action=ConfigAction.UPDATE, changes=changes, actor=actor, actor_label=actor_label
    )
    user.team = team
    return user


def team_get_or_create(*, name: str, actor=None, actor_label: str = "") -> tuple[Team, bool]:
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("A team needs a name."), code="invalid_team")
    with transaction.atomic():
        team, created = Team.objects.get_or_create(name=name)
        if created:
            config_change_record(
                instance=team, action=ConfigAction.CREATE, changes=snapshot_diff(None, model_snapshot(team)),
                actor=actor, actor_label=actor_label,
            )
    return team, created


@transaction.atomic
def team_set_manager(*, team: Team, manager: User | None, actor=None, actor_label: str = "") -> Team:
    locked = Team.objects.select_for_update().get(pk=team.pk)
    if locked.manager_id == (manager.pk if manager else None):
        return team
    changes = {"manager": [_as_text(locked.manager), _as_text(manager)]}
    locked.manager = manager
    locked.save(update_fields=["manager"])
    config_change_record(
        instance=locked, action=ConfigAction.UPDATE, changes=changes, actor=actor, actor_label=actor_label
    )
    team.manager = manager
    return team


def password_generate() -> str:
    """A random password that passes the configured validators."""
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            validate_password(candidate)
        except ValidationError:
            continue
        return candidate


def user_create(
    *,
    username: str,
    role: str,
    team_name: str | None = None,
    password: str | None = None,
    email: str = "",
    actor=None,
    actor_label: str = "",
    unusable_password: bool = False,
) -> tuple[User, str, bool]:
    """Create a user with a role, in a team (created if needed). Without a password, one is
    generated; with `unusable_password` the user gets none at all (someone to invite later; no
    password is generated or hashed, which costs a noticeable fraction of a second each).
    Returns (user, password, password_was_generated). Raises ValidationError for an unknown role,
    a taken username or a password the validators refuse."""
    role = _role_clean(role)
    username = (username or "").strip()
    if not username:
        raise ValidationError(_("A user needs a name."), code="invalid_username")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(_("A user named “%(name)s” already exists.") % {"name": username}, code="duplicate")
    generated = password is None and not unusable_password
    if unusable_password:
        password = ""
    elif generated:
        password = password_generate()
    else:
        # Check against the new user, so "similar to the username" is caught too.
        validate_password(password, user=User(username=username, email=email))
    with transaction.atomic():
        team = team_get_or_create(name=team_name, actor=actor, actor_label=actor_label)[0] if team_name else None
        is_admin = role == Role.ADMIN
        user = User(username=username, email=email, team=team, role=role, is_staff=is_admin, is_superuser=is_admin)
        if unusable_password:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save()
        _role_group_apply(user, role)
        if team is not None and role == Role.MANAGER and team.manager_id is None:
            # The first manager of a team becomes its manager.
            team_set_manager(team=team, manager=user, actor=actor, actor_label=actor_label)
        config_change_record(
            instance=user,
            action=ConfigAction.CREATE,
            changes=snapshot_diff(
                None,
                {"role": user.role, "team": _as_text(team), "is_staff": str(is_admin), "is_superuser": str(is_admin)},
            ),
            actor=actor,
            actor_label=actor_label,
        )
    return user, password, generated
