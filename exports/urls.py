from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("board.csv", views.board_csv, name="board_csv"),
    path("board.xlsx", views.board_xlsx, name="board_xlsx"),
    path("leads.csv", views.leads_csv, name="leads_csv"),
    path("leads.xlsx", views.leads_xlsx, name="leads_xlsx"),
]
