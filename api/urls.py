from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import files, pages, views

app_name = "api"


class Router(DefaultRouter):
    include_root_view = False
    include_format_suffixes = False  # one URL per resource; ?format= still works


router = Router()
router.register("pipelines", views.PipelineViewSet, basename="pipeline")
router.register("stages", views.StageViewSet, basename="stage")
router.register("lost-reasons", views.LostReasonViewSet, basename="lostreason")
router.register("users", views.UserViewSet, basename="user")
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("people", views.PersonViewSet, basename="person")
router.register("leads", views.LeadViewSet, basename="lead")  # the address before organisations existed
router.register("deals", views.DealViewSet, basename="deal")
router.register("contact-roles", views.ContactRoleViewSet, basename="contactrole")
router.register("activities", views.ActivityViewSet, basename="activity")
router.register("notes", views.NoteViewSet, basename="note")
router.register("products", views.ProductViewSet, basename="product")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("files", files.AttachmentViewSet, basename="attachment")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/forecast/", views.ForecastView.as_view(), name="forecast"),
    path("schema/", views.SchemaView.as_view(), name="schema"),
    # A page for people (signed in, like every page); its assets come from drf-spectacular-sidecar.
    path("docs/", login_required(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path("tokens/", pages.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", pages.token_revoke, name="token_revoke"),
]
