from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("board.csv", views.board_csv, name="board_csv"),
    path("board.xlsx", views.board_xlsx, name="board_xlsx"),
    path("organizations.csv", views.organizations_csv, name="organizations_csv"),
    path("organizations.xlsx", views.organizations_xlsx, name="organizations_xlsx"),
    path("everything.zip", views.everything_zip, name="everything_zip"),
    path("everything.json", views.everything_json, name="everything_json"),
]
