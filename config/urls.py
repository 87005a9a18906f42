from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from config.health import healthz

# Django's default "Django administration" means nothing to a Stageflow admin; lazy, so each
# request sees its own language.
admin.site.site_header = _("Stageflow administration")
admin.site.site_title = _("Stageflow administration")
admin.site.index_title = _("Administration")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="pipeline:board", permanent=False)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("localization.urls")),
    path("api/", include("api.urls")),
    path("pipeline/", include("pipeline.urls")),
    path("healthz", healthz, name="healthz"),
    path("forecast/", include("forecasting.urls")),
    path("activities/", include("activities.urls")),
    path("qualification/", include("qualification.urls")),
    path("imports/", include("imports.urls")),
    path("exports/", include("exports.urls")),
    path("offers/", include("offers.urls")),
    path("search/", include("search.urls")),
    path("files/", include("attachments.urls")),
    path("mail/", include("mail.urls")),
    path("lists/", include("lists.urls")),
    path("p/", include("offers.public_urls")),
]
