from django.urls import path

from . import views

app_name = "attachments"

urlpatterns = [
    path("deals/<int:deal_pk>/", views.record_files, name="deal"),
    path("organizations/<int:organization_pk>/", views.record_files, name="organization"),
    path("people/<int:person_pk>/", views.record_files, name="person"),
    path("<int:pk>/download/", views.download, name="download"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
