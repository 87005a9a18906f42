from django.urls import path

from . import views

app_name = "forecasting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("recompute/", views.recompute, name="recompute"),
]
