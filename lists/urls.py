from django.urls import path

from . import views

app_name = "lists"

urlpatterns = [
    path("", views.lists_home, name="home"),
    path("pinned/", views.pinned_views, name="pinned"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="savedview_delete"),
    path("views/<int:pk>/default/", views.saved_view_default, name="savedview_default"),
    path("views/<int:pk>/pin/", views.saved_view_pin, name="savedview_pin"),
    path("bulk/<int:pk>/", views.bulk_status, name="bulk_status"),
    path("bulk/<int:pk>/undo/", views.bulk_undo, name="bulk_undo"),
    path("<str:kind>/", views.list_view, name="list"),
    path("<str:kind>/bulk/", views.bulk_start, name="bulk_start"),
    path("<str:kind>/views/", views.saved_view_create, name="savedview_create"),
]
