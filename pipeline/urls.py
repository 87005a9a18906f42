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
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/new/", views.lead_create, name="lead_create"),
    path("leads/lookup/", views.lead_lookup, name="lead_lookup"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/edit/", views.lead_edit, name="lead_edit"),
]
