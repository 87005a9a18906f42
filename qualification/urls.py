from django.urls import path

from . import views

app_name = "qualification"

urlpatterns = [
    path("leads/", views.lead_list_view, name="lead_list"),
]
