"""The customer's pages under /p/: no account, nothing of the CRM but the one offer."""
from django.urls import path

from . import public_views

app_name = "offers_public"

urlpatterns = [
    path("<str:token>/", public_views.offer, name="offer"),
    path("<str:token>/pdf/", public_views.offer_pdf, name="pdf"),
    path("<str:token>/accept/", public_views.accept, name="accept"),
    path("<str:token>/decline/", public_views.decline, name="decline"),
]
