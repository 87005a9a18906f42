from django.urls import path

from . import views

app_name = "activities"

urlpatterns = [
    path("", views.my_activities, name="mine"),
    path("<int:pk>/edit/", views.activity_edit, name="edit"),
    path("<int:pk>/done/", views.activity_done, name="done"),
    path("<int:pk>/reopen/", views.activity_reopen, name="reopen"),
    path("deals/<int:deal_pk>/new/", views.activity_create, name="create"),
    path("deals/<int:deal_pk>/notes/", views.note_create, name="note_create"),
    path("organizations/<int:organization_pk>/new/", views.activity_create, name="organization_create"),
    path("organizations/<int:organization_pk>/notes/", views.note_create, name="organization_note_create"),
    path("people/<int:person_pk>/new/", views.activity_create, name="person_create"),
    path("people/<int:person_pk>/notes/", views.note_create, name="person_note_create"),
    path("deals/<int:deal_pk>/upsell/", views.upsell_create, name="upsell"),
    path("onboarding/<int:pk>/", views.onboarding_toggle, name="onboarding_toggle"),
]
