from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["filename", "kind", "created_by", "status", "total_rows", "created_organizations", "created_deals", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["filename", "created_by__username"]
    exclude = ["rows"]
    readonly_fields = [f.name for f in ImportJob._meta.fields if f.name != "rows"]

    def has_add_permission(self, request):
        return False
