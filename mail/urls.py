from django.urls import path

from . import views

app_name = "mail"

urlpatterns = [
    path("settings/", views.mailbox_settings, name="settings"),
    path("settings/sync/", views.mailbox_sync, name="sync"),
    path("settings/disconnect/", views.mailbox_disconnect, name="disconnect"),
    path("threads/<int:pk>/", views.thread_detail, name="thread"),
    path("threads/<int:pk>/privacy/", views.thread_privacy, name="thread_privacy"),
    path("calendar/renew/", views.calendar_renew, name="calendar_renew"),
    path("calendar/revoke/", views.calendar_revoke, name="calendar_revoke"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("meetings/<int:pk>/invite/", views.meeting_invite, name="meeting_invite"),
    path("deals/<int:deal_pk>/compose/", views.compose, name="deal_compose"),
    path("people/<int:person_pk>/compose/", views.compose, name="person_compose"),
]
