from django.urls import path

from . import views

app_name = "pipeline"

urlpatterns = [
    path("", views.board, name="board"),
    path("stages/<int:stage_id>/add/", views.deal_quick_add, name="deal_quick_add"),
    path("deals/new/", views.deal_create, name="deal_create"),
    path("deals/<int:pk>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/move/", views.deal_move_view, name="deal_move"),
    path("deals/<int:pk>/lose/", views.deal_lose_view, name="deal_lose"),
    path("deals/<int:pk>/reopen/", views.deal_reopen_view, name="deal_reopen"),
    path("deals/<int:pk>/snooze/", views.deal_snooze_view, name="deal_snooze"),
    path("deals/<int:pk>/contacts/", views.deal_contact_add, name="deal_contact_add"),
    path("deals/<int:pk>/contacts/<int:person_pk>/", views.deal_contact_role, name="deal_contact_role"),
    path("deals/<int:pk>/contacts/<int:person_pk>/remove/", views.deal_contact_remove, name="deal_contact_remove"),
    path("leads/", views.lead_list_moved, name="lead_list_moved"),  # the lead list's old address
    path("leads/<int:pk>/", views.organization_moved, name="organization_moved"),  # an old lead page's address
    path("organizations/", views.organization_list, name="organization_list"),
    path("organizations/new/", views.organization_create, name="organization_create"),
    path("organizations/lookup/", views.organization_lookup, name="organization_lookup"),
    path("organizations/<int:pk>/", views.organization_detail, name="organization_detail"),
    path("organizations/<int:pk>/edit/", views.organization_edit, name="organization_edit"),
    # Duplicates, merges and data-protection requests (views/directory.py)
    path("duplicates/", views.duplicates_list, name="duplicates"),
    path("organizations/<int:pk>/merge/", views.organization_merge, name="organization_merge"),
    path("people/<int:pk>/merge/", views.person_merge, name="person_merge"),
    path("people/<int:pk>/data/", views.person_data, name="person_data"),
    path("people/<int:pk>/data.json", views.person_data_json, name="person_data_json"),
    path("people/<int:pk>/erase/", views.person_erase, name="person_erase"),
    path("people/", views.person_list, name="person_list"),
    path("people/new/", views.person_create, name="person_create"),
    path("people/lookup/", views.person_lookup, name="person_lookup"),
    path("people/<int:pk>/", views.person_detail, name="person_detail"),
    path("people/<int:pk>/edit/", views.person_edit, name="person_edit"),
]
