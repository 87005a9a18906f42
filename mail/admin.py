from django.contrib import admin

from .models import Mailbox, MailTemplate


@admin.register(MailTemplate)
class MailTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "language", "subject", "is_active", "position")
    list_filter = ("language", "is_active")
    search_fields = ("name", "subject")


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    """Read-only: a mailbox is its user's own (their page); the secret is not among the fields."""

    list_display = ("email_address", "user", "imap_host", "last_sync_at", "problem")
    list_filter = ("problem",)
    fields = ("user", "email_address", "imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port",
              "smtp_security", "username", "auth_method", "sync_days", "is_active", "last_sync_at", "problem", "problem_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False
