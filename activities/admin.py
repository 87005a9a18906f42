from django.contrib import admin

from .models import Activity, Note, OnboardingItem, OnboardingTask


@admin.register(OnboardingItem)
class OnboardingItemAdmin(admin.ModelAdmin):
    """The onboarding checklist of each pipeline: won deals get a copy of the active items."""

    list_display = ["title", "pipeline", "position", "is_active"]
    list_editable = ["position", "is_active"]
    list_filter = ["pipeline", "is_active"]
    ordering = ["pipeline", "position", "pk"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "due_at", "owner", "deal", "organization", "done_at"]
    list_filter = ["kind", ("done_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "deal__title", "organization__name"]
    raw_id_fields = ["deal", "organization", "owner", "done_by", "created_by"]
    date_hierarchy = "due_at"


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["__str__", "deal", "organization", "author", "created_at"]
    raw_id_fields = ["deal", "organization", "author"]


@admin.register(OnboardingTask)
class OnboardingTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "deal", "done_at"]
    raw_id_fields = ["deal", "item", "done_by"]
