"""A URL configuration for tests: a pipeline admin with stage inlines, audited by the mixin."""
from django.contrib import admin
from django.urls import path

from accounts.audit import AuditedAdminMixin
from pipeline.models import Pipeline, Stage

site = admin.AdminSite(name="audit_test_admin")


class StageInline(admin.TabularInline):
    model = Stage
    fields = ("name", "position", "probability", "kind", "rotting_days", "colour")
    extra = 1


@admin.register(Pipeline, site=site)
class PipelineAdmin(AuditedAdminMixin, admin.ModelAdmin):
    fields = ("name", "position", "is_default", "is_active")
    inlines = [StageInline]


urlpatterns = [path("admin/", site.urls), path("accounts/login/", lambda r: None, name="login")]
