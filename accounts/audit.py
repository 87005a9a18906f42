"""Audit configuration changes made in the Django admin.

Add `AuditedAdminMixin` first in the bases of a ModelAdmin (and it also covers that admin's
inlines): every create, change and delete of the object and of its inline rows is written to
`ConfigChange` through `accounts.services.config_change_record`, with who, when, and the old and
new values of each field that changed.

    class StageAdmin(AuditedAdminMixin, admin.ModelAdmin): ...
"""
from .models import ConfigAction
from .services import config_change_record, model_snapshot, snapshot_diff


class AuditedAdminMixin:
    #: Fields never written to the audit trail (besides passwords and last sign-in).
    audit_exclude: tuple[str, ...] = ()

    def _audit_snapshot(self, obj, model=None):
        exclude = self.audit_exclude if model is None or model is self.model else ()
        return model_snapshot(obj, exclude=exclude)

    def _audit_stored(self, model, pks):
        pks = [pk for pk in pks if pk is not None]
        if not pks:
            return {}
        return {o.pk: self._audit_snapshot(o, model) for o in model._default_manager.filter(pk__in=pks)}

    def save_model(self, request, obj, form, change):
        before = self._audit_stored(type(obj), [obj.pk]).get(obj.pk) if change else None
        super().save_model(request, obj, form, change)
        changes = snapshot_diff(before, self._audit_snapshot(obj))
        if changes or not change:
            config_change_record(
                instance=obj,
                action=ConfigAction.UPDATE if change else ConfigAction.CREATE,
                changes=changes,
                actor=request.user,
            )

    def delete_model(self, request, obj):
        pk, before = obj.pk, self._audit_snapshot(obj)
        super().delete_model(request, obj)
        config_change_record(
            instance=obj, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None),
            actor=request.user,
        )

    def delete_queryset(self, request, queryset):
        rows = [(obj, obj.pk, self._audit_snapshot(obj)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for obj, pk, before in rows:
            config_change_record(
                instance=obj, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before, None),
                actor=request.user,
            )

    def save_formset(self, request, form, formset, change):
        model = formset.model
        stored_pk = {id(f.instance): f.instance.pk for f in formset.forms}
        before = self._audit_stored(model, stored_pk.values())
        super().save_formset(request, form, formset, change)
        for obj in getattr(formset, "new_objects", []):
            config_change_record(
                instance=obj, action=ConfigAction.CREATE, changes=snapshot_diff(None, self._audit_snapshot(obj, model)),
                actor=request.user,
            )
        for obj, _fields in getattr(formset, "changed_objects", []):
            changes = snapshot_diff(before.get(obj.pk), self._audit_snapshot(obj, model))
            if changes:
                config_change_record(instance=obj, action=ConfigAction.UPDATE, changes=changes, actor=request.user)
        for obj in getattr(formset, "deleted_objects", []):
            pk = stored_pk.get(id(obj), obj.pk)
            config_change_record(
                instance=obj, object_id=pk, action=ConfigAction.DELETE, changes=snapshot_diff(before.get(pk), None),
                actor=request.user,
            )
