from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _, ngettext

from accounts.audit import AuditedAdminMixin

from .models import Criterion, Profile
from .services import organizations_fit_rescore_all


class CriterionInline(admin.TabularInline):
    model = Criterion
    extra = 1
    fields = ["attribute", "values", "weight", "position"]


@admin.register(Profile)
class ProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_exclude = ("updated_at",)  # changes on every save; the audit row has its own time
    list_display = ["name", "is_active", "criteria_count", "updated_at"]
    inlines = [CriterionInline]
    actions = ["rescore_now"]

    @admin.display(description=_("criteria"))
    def criteria_count(self, obj):
        return obj.criteria.count()

    @admin.action(description=_("Rescore all leads now"))
    def rescore_now(self, request, queryset):
        changed = organizations_fit_rescore_all()
        self.message_user(
            request,
            ngettext("%(n)d lead got a new fit score.", "%(n)d leads got a new fit score.", changed) % {"n": changed},
            messages.SUCCESS,
        )
