from django.urls import path

from . import views

app_name = "pipeline"

urlpatterns = [
    path("", views.board, name="board"),
    path("deals/<int:pk>/", views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/move/", views.deal_move_view, name="deal_move"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
]
