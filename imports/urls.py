from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("sample/<str:kind>.csv", views.sample, name="sample"),
    path("<int:pk>/", views.status, name="status"),
    path("<int:pk>/mapping/", views.mapping, name="mapping"),
    path("<int:pk>/values/", views.values, name="values"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/problems.csv", views.problems, name="problems"),
    path("<int:pk>/commit/", views.commit, name="commit"),
    path("<int:pk>/undo/", views.undo, name="undo"),
]
