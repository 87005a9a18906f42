import json

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from .audit import AuditedAdminMixin
from .models import ConfigAction, ConfigChange, Role, Team, User
from .roles import ROLE_GROUP_NAMES
from .services import config_change_record, model_snapshot, snapshot_diff, user_set_role, user_set_team

# Fields of a user that the audit trail follows besides role and team (which the services record).
USER_AUDITED_FIELDS = ("username", "email", "first_name", "last_name", "is_active")


def _user_audit_snapshot(user):
    snapshot = model_snapshot(user)
    return {name: snapshot[name] for name in USER_AUDITED_FIELDS}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users with their role and team. The role decides the role group and staff/superuser status
    (through `accounts.services.user_set_role`); the group list offers only extra groups."""

    list_display = ("username", "first_name", "last_name", "email", "role", "team", "is_active")
    list_filter = ("role", "team", "is_active")
    list_select_related = ("team",)
    readonly_fields = ("is_staff", "is_superuser", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (
            _("Sales organisation"),
            {
                "fields": ("role", "team"),
                "description": _(
                    "The role decides what the person may see and do: reps work their deals, managers "
                    "their team's, admins configure everything (and get full access to these settings)."
                ),
            },
        ),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        (_("Sales organisation"), {"fields": ("email", "role", "team")}),
    )

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.exclude(name__in=ROLE_GROUP_NAMES.values())
            kwargs.setdefault("help_text", _("Extra groups. The role's own group is given by the role."))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Role and team change only through their services (in save_related, after the form's
        # groups are saved), so that group, flags and audit trail always agree.
        data = form.cleaned_data
        request._stageflow_role_team = (data.get("role", obj.role), data.get("team", obj.team))
        if change:
            stored = User.objects.select_related("team").get(pk=obj.pk)
            before = _user_audit_snapshot(stored)
            obj.role, obj.team = stored.role, stored.team
            obj.is_staff, obj.is_superuser = stored.is_staff, stored.is_superuser
            super().save_model(request, obj, form, change)
            changes = snapshot_diff(before, _user_audit_snapshot(obj))
            if changes:
                config_change_record(instance=obj, action=ConfigAction.UPDATE, changes=changes, actor=request.user)
        else:
            role, team = request._stageflow_role_team
            obj.role, obj.team = role, team
            obj.is_staff = obj.is_superuser = role == Role.ADMIN
            super().save_model(request, obj, form, change)
            after = {**_user_audit_snapshot(obj), "role": obj.role, "team": str(team) if team else None}
            config_change_record(
                instance=obj, action=ConfigAction.CREATE, changes=snapshot_diff(None, after), actor=request.user
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        role, team = request._stageflow_role_team
        user_set_team(user=form.instance, team=team, actor=request.user)
        user_set_role(user=form.instance, role=role, actor=request.user)

    def delete_model(self, request, obj):
        pk, before = obj.pk, {**_user_audit_snapshot(obj), "role": obj.role}
        super().delete_model(request, obj)
        config_change_record(
            instance=obj, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None),
            actor=request.user,
        )

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(Team)
class TeamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "manager", "member_count")
    search_fields = ("name",)
    list_select_related = ("manager",)
    readonly_fields = ("members",)
    fields = ("name", "manager", "members")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_members=Count("members"))

    @admin.display(description=_("members"), ordering="n_members")
    def member_count(self, obj):
        return obj.n_members

    @admin.display(description=_("members"))
    def members(self, obj):
        if obj.pk is None:
            return "–"
        people = obj.members.order_by("username")
        return format_html_join(", ", "{} ({})", ((str(p), p.get_role_display()) for p in people)) or "–"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "manager":
            kwargs["queryset"] = User.objects.filter(is_active=True).filter(
                Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(is_superuser=True)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    """The configuration audit trail: read-only, for admins."""

    list_display = ("at", "actor_display", "content_type", "object_repr", "action", "changes_summary")
    list_filter = ("action", ("content_type", admin.RelatedOnlyFieldListFilter), ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("object_repr", "actor__username", "actor_label")
    date_hierarchy = "at"
    list_select_related = ("actor", "content_type")
    fields = ("at", "actor", "actor_label", "content_type", "object_id", "object_repr", "action", "changes_table")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        user = request.user
        return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) == Role.ADMIN))

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=_("by"), ordering="actor")
    def actor_display(self, obj):
        return obj.actor_display

    @admin.display(description=_("changes"))
    def changes_summary(self, obj):
        parts = [f"{name}: {_short(old)} → {_short(new)}" for name, (old, new) in sorted(obj.changes.items())]
        text = "; ".join(parts)
        return text if len(text) <= 160 else text[:157] + "…"

    @admin.display(description=_("changes"))
    def changes_table(self, obj):
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td><td>{}</td></tr>",
            ((name, _short(old, 1000), _short(new, 1000)) for name, (old, new) in sorted(obj.changes.items())),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("field"), _("old value"), _("new value"), rows,
        )


def _short(value, limit: int = 40) -> str:
    if value is None:
        return "–"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
