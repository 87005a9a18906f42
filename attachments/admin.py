from django.contrib import admin

from .models import Attachment, StoredContent


@admin.register(StoredContent)
class StoredContentAdmin(admin.ModelAdmin):
    """Read-only: contents are written by attachments.services. Quarantined ones are found here."""

    list_display = ("sha256", "mime_type", "size", "scan_status", "scan_signature", "preview_status", "created_at")
    list_filter = ("scan_status", "preview_status", "mime_type")
    search_fields = ("sha256",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """Read-only: files are added, renamed and deleted on the records' pages (attachments.services)."""

    list_display = ("name", "mime_type", "size", "deal", "organization", "person", "uploaded_by", "uploaded_at", "deleted_at")
    list_filter = ("source", "content__scan_status")
    search_fields = ("name",)
    raw_id_fields = ("content", "deal", "organization", "person")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
