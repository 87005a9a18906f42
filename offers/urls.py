from django.urls import path

from . import views

app_name = "offers"

urlpatterns = [
    path("", views.offer_list, name="list"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("deals/<int:deal_id>/", views.deal_offers, name="deal_offers"),
    path("deals/<int:deal_id>/new/", views.offer_create, name="create"),
    path("versions/<int:pk>/", views.version_detail, name="version_detail"),
    path("versions/<int:pk>/texts/", views.version_texts, name="version_texts"),
    path("versions/<int:pk>/packages/", views.package_add, name="package_add"),
    path("versions/<int:pk>/lines/", views.line_add, name="line_add"),
    path("versions/<int:pk>/request-approval/", views.request_approval, name="request_approval"),
    path("versions/<int:pk>/approve/", views.approve, name="approve"),
    path("versions/<int:pk>/send/", views.send, name="send"),
    path("versions/<int:pk>/resend/", views.resend, name="resend"),
    path("versions/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("versions/<int:pk>/revise/", views.revise, name="revise"),
    path("versions/<int:pk>/print/", views.version_print, name="print"),
    path("versions/<int:pk>/pdf/", views.version_pdf, name="pdf"),
    path("packages/<int:pk>/delete/", views.package_delete, name="package_delete"),
    path("lines/<int:pk>/", views.line_update, name="line_update"),
    path("lines/<int:pk>/delete/", views.line_delete, name="line_delete"),
]
