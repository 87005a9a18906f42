"""The REST API under /api/v1/. Reads through the selectors (pipeline, activities, offers), writes
through the services that own each record (pipeline.services, .organizations, .people, .configuration,
activities.services, offers.services); the views only check who may do it and translate refusals.

DRF marks its views login_not_required (since 3.16), so the site-wide LoginRequiredMiddleware
lets token clients through and DRF itself answers anonymous ones with 401 JSON.

A record the user may not see answers 404; one they may see but not change, 403; a stale
`version`, 409 with the current deal; a refusal of the pipeline's rules, 400 with its message.
"""
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Prefetch
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from activities import selectors as activity_selectors
from activities import services as activity_services
from activities.models import Activity, Note
from offers import selectors as offer_selectors
from offers import services as offer_services
from offers.models import Offer, OfferLine, OfferPackage, OfferVersion, Product
from pipeline import configuration, selectors, services
from pipeline import organizations as organization_services
from pipeline import people as people_services
from pipeline.exceptions import PipelineError
from pipeline.models import (
    ContactRole, Deal, DealChange, DealContact, LostReason, Organization, Person, Pipeline, Stage, StageChange,
)

from . import forecast as forecast_engine
from . import serializers as s
from .filters import (
    ActivityFilter, DealFilter, NoteFilter, OfferFilter, OrganizationFilter, PersonFilter, ProductFilter, StageFilter,
)
from .permissions import IsAdminOrReadOnly

ERRORS_READ = {
    401: OpenApiResponse(s.ErrorSerializer, description="Not signed in, or the token is invalid or revoked."),
    403: OpenApiResponse(s.ErrorSerializer, description="Signed in, but not allowed."),
    429: OpenApiResponse(s.ErrorSerializer, description="Too many requests for this token or user."),
}
ERRORS_LIST = {400: OpenApiResponse(s.ValidationErrorSerializer, description="An invalid filter value."),
               404: OpenApiResponse(s.ErrorSerializer, description="No such page."), **ERRORS_READ}
ERRORS_OBJECT = {404: OpenApiResponse(s.ErrorSerializer, description="No such object, or not visible to you."),
                 **ERRORS_READ}
ERRORS_WRITE = {
    400: OpenApiResponse(s.ValidationErrorSerializer, description="Invalid input, or refused by the pipeline's rules."),
    **ERRORS_READ,
}
ERRORS_OBJECT_WRITE = {**ERRORS_WRITE, **ERRORS_OBJECT}
ERRORS_DEAL_WRITE = {
    **ERRORS_OBJECT_WRITE,
    409: OpenApiResponse(s.ConflictSerializer, description="The deal changed since `version`; `deal` holds its current state."),
}


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


# --- Configuration -------------------------------------------------------------------------------


class ConfigurationWritesMixin:
    """Creates, changes and deletes go through pipeline.configuration: the admin's rules, messages
    and audit trail. A refusal answers 400 with the service's message and code."""

    create_service = update_service = delete_service = None
    object_keyword = ""

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).update_service(
            **{self.object_keyword: serializer.instance}, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        type(self).delete_service(**{self.object_keyword: instance}, actor=self.request.user)


@extend_schema_view(
    list=extend_schema(responses={200: s.PipelineSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.PipelineSerializer, **ERRORS_OBJECT}),
    create=extend_schema(responses={201: s.PipelineSerializer, **ERRORS_WRITE}),
    update=extend_schema(responses={200: s.PipelineSerializer, **ERRORS_OBJECT_WRITE}),
    partial_update=extend_schema(responses={200: s.PipelineSerializer, **ERRORS_OBJECT_WRITE}),
    destroy=extend_schema(responses={204: None, **ERRORS_OBJECT_WRITE}),
)
class PipelineViewSet(ConfigurationWritesMixin, viewsets.ModelViewSet):
    """Pipelines and their stages in board order. Everyone reads; admins write."""

    queryset = Pipeline.objects.none()  # for the schema; get_queryset decides
    create_service, update_service, delete_service = (
        configuration.pipeline_create, configuration.pipeline_update, configuration.pipeline_delete
    )
    object_keyword = "pipeline"
    serializer_class = s.PipelineSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Pagination

    def get_queryset(self):
        user = self.request.user
        qs = Pipeline.objects.all() if getattr(user, "is_admin", False) else selectors.visible_pipelines(user)
        return qs.prefetch_related(Prefetch("stages", Stage.objects.order_by("position", "pk"))).order_by("position", "pk")

@extend_schema_view(
    list=extend_schema(responses={200: s.StageSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.StageSerializer, **ERRORS_OBJECT}),
    create=extend_schema(responses={201: s.StageSerializer, **ERRORS_WRITE}),
    update=extend_schema(responses={200: s.StageSerializer, **ERRORS_OBJECT_WRITE}),
    partial_update=extend_schema(responses={200: s.StageSerializer, **ERRORS_OBJECT_WRITE}),
    destroy=extend_schema(
        responses={204: None, **ERRORS_OBJECT_WRITE},
        description=(
            "Refused with 400 (`stage_has_deals`) while deals are in the stage (move them first), and "
            "(`stage_in_use`) while the history of deals refers to it."
        ),
    ),
)
class StageViewSet(ConfigurationWritesMixin, viewsets.ModelViewSet):
    """Stages of all pipelines the user may see, in board order. Everyone reads; admins write."""

    queryset = Stage.objects.none()
    create_service, update_service, delete_service = (
        configuration.stage_create, configuration.stage_update, configuration.stage_delete
    )
    object_keyword = "stage"
    serializer_class = s.StageSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = StageFilter

    def get_queryset(self):
        user = self.request.user
        pipelines = Pipeline.objects.all() if getattr(user, "is_admin", False) else selectors.visible_pipelines(user)
        return Stage.objects.filter(pipeline__in=pipelines).order_by("pipeline__position", "pipeline_id", "position", "pk")

@extend_schema_view(
    list=extend_schema(responses={200: s.LostReasonSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.LostReasonSerializer, **ERRORS_OBJECT}),
    create=extend_schema(responses={201: s.LostReasonSerializer, **ERRORS_WRITE}),
    update=extend_schema(responses={200: s.LostReasonSerializer, **ERRORS_OBJECT_WRITE}),
    partial_update=extend_schema(responses={200: s.LostReasonSerializer, **ERRORS_OBJECT_WRITE}),
    destroy=extend_schema(responses={204: None, **ERRORS_OBJECT_WRITE}),
)
class LostReasonViewSet(ConfigurationWritesMixin, viewsets.ModelViewSet):
    """Why deals are lost. Everyone reads; admins write. A reason in use can only be deactivated."""

    queryset = LostReason.objects.none()
    create_service, update_service, delete_service = (
        configuration.lost_reason_create, configuration.lost_reason_update, configuration.lost_reason_delete
    )
    object_keyword = "reason"
    serializer_class = s.LostReasonSerializer
    permission_classes = [IsAdminOrReadOnly]
    pagination_class = Pagination

    def get_queryset(self):
        return LostReason.objects.order_by("position", "pk")

@extend_schema_view(
    list=extend_schema(responses={200: s.UserSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.UserSerializer, **ERRORS_OBJECT}),
)
class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """The people whose deals you may see (the choices for owner filters)."""

    queryset = get_user_model().objects.none()
    serializer_class = s.UserSerializer
    pagination_class = Pagination

    def get_queryset(self):
        return selectors.visible_users(self.request.user).order_by("username", "pk")


@extend_schema_view(
    list=extend_schema(responses={200: s.ContactRoleSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.ContactRoleSerializer, **ERRORS_OBJECT}),
)
class ContactRoleViewSet(viewsets.ReadOnlyModelViewSet):
    """The roles a person can play on a deal (decision maker, champion, …), in their order; inactive
    ones too, for the contacts that still have them."""

    queryset = ContactRole.objects.none()
    serializer_class = s.ContactRoleSerializer
    pagination_class = Pagination

    def get_queryset(self):
        return ContactRole.objects.order_by("position", "pk")


# --- Leads ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.OrganizationSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.OrganizationSerializer, **ERRORS_OBJECT}),
    create=extend_schema(responses={201: s.OrganizationSerializer, **ERRORS_WRITE}),
    partial_update=extend_schema(responses={200: s.OrganizationSerializer, **ERRORS_OBJECT_WRITE}),
)
class OrganizationViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Leads you may see: your own, unowned ones, and those behind deals you may see."""

    queryset = Organization.objects.none()
    serializer_class = s.OrganizationSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = OrganizationFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.visible_organizations(self.request.user).select_related("main_contact").order_by("name", "pk")

    def perform_create(self, serializer):
        # Required custom fields are required of API clients: `custom` is always given.
        data = {"owner": self.request.user, "custom": {}, **serializer.validated_data}
        serializer.instance = organization_services.organization_create(actor=self.request.user, **data)

    def perform_update(self, serializer):
        if not selectors.can_change_organization(self.request.user, serializer.instance):
            raise PermissionDenied(_("You may look at this lead but not change it."))
        serializer.instance = organization_services.organization_update(
            organization=serializer.instance, actor=self.request.user, **serializer.validated_data
        )


@extend_schema(exclude=True)  # documented once, at /api/v1/organizations/
class LeadViewSet(OrganizationViewSet):
    """The organisations at the address clients written before organisations and people used
    (`/api/v1/leads/`): the same records, fields and rules. Use `/api/v1/organizations/`."""


# --- People --------------------------------------------------------------------------------------


def _on_field(refusal: PipelineError, fields: dict[str, str]) -> PipelineError:
    """A service's refusal about one input, also reported under that input's name (as field errors are)."""
    if not getattr(refusal, "field", None) and refusal.code in fields:
        refusal.field = fields[refusal.code]
    return refusal


PERSON_REFUSAL_FIELDS = {"invalid_name": "name", "invalid_email": "emails", "invalid_phone": "phones"}
CONTACT_REFUSAL_FIELDS = {"inactive_role": "role", "erased": "person"}
CONTACT_PERSON_PARAMETER = OpenApiParameter(
    "person_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The id of the person on the deal."
)


@extend_schema_view(
    list=extend_schema(responses={200: s.PersonSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.PersonSerializer, **ERRORS_OBJECT}),
    create=extend_schema(responses={201: s.PersonSerializer, **ERRORS_WRITE}),
    partial_update=extend_schema(
        responses={200: s.PersonSerializer, **ERRORS_OBJECT_WRITE},
        description="Change a person's fields; `emails` or `phones`, when sent, replace all addresses or numbers.",
    ),
)
class PersonViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """People you may see: those at organisations and on deals you may see, your own (for managers
    your teams'), and unowned people at no organisation. Writes go through pipeline.people."""

    queryset = Person.objects.none()
    serializer_class = s.PersonSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = PersonFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            selectors.visible_persons(self.request.user)
            .select_related("organization")
            .prefetch_related("emails", "phones")
            .order_by("name", "pk")
        )

    def get_object(self):
        person = super().get_object()  # 404 before 403, and 403 before the input is checked
        if self.request.method not in SAFE_METHODS and not selectors.can_change_person(self.request.user, person):
            raise PermissionDenied(_("You may look at this person but not change it."))
        return person

    def perform_create(self, serializer):
        data = {"owner": self.request.user, "custom": {}, **serializer.service_data()}
        try:
            serializer.instance = people_services.person_create(actor=self.request.user, **data)
        except PipelineError as refusal:
            raise _on_field(refusal, PERSON_REFUSAL_FIELDS) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = people_services.person_update(
                person=serializer.instance, actor=self.request.user, **serializer.service_data()
            )
        except PipelineError as refusal:
            raise _on_field(refusal, PERSON_REFUSAL_FIELDS) from None


# --- Deals ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.DealSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.DealSerializer, **ERRORS_OBJECT}),
)
class DealViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deals you may see. Every change goes through the same service as the board."""

    queryset = Deal.objects.none()
    serializer_class = s.DealSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DealFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]  # delete: a contact, not a deal

    def get_queryset(self):
        return (
            selectors.visible_deals(self.request.user)
            .select_related("stage", "organization", "owner")
            .order_by("-created_at", "-pk")
        )

    def _changeable_deal(self) -> Deal:
        deal = self.get_object()
        if not selectors.can_change_deal(self.request.user, deal):
            raise PermissionDenied(_("You may look at this deal but not change it."))
        return deal

    def _deal_to_move(self, stage_id: int) -> Deal:
        """The deal with everything the answer shows and the service keeps (stage, lead, owner,
        pipeline) and, in the same query, the target stage when it belongs to the deal's
        pipeline (selectors.deal_to_move)."""
        user = self.request.user
        try:  # read as the ORM reads an id (int()): anything else is the ORM's 404 below
            pk = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            pk = None
        # With query parameters the list's filters apply, as for every other action.
        found = None
        if pk is not None and not self.request.query_params:
            queryset = Deal.objects.select_related("stage", "organization", "owner", "pipeline")
            found = selectors.deal_to_move(user, pk=pk, stage=stage_id, queryset=queryset).first()
        if found is None:
            return self._changeable_deal()  # the 404 (or, for a hidden deal, never more than that)
        self.check_object_permissions(self.request, found)
        if not selectors.can_change_deal(user, found):
            raise PermissionDenied(_("You may look at this deal but not change it."))
        return found

    def _respond(self, deal: Deal, status_code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().filter(pk=deal.pk).first() or Deal.objects.select_related(
            "stage", "organization", "owner"
        ).get(pk=deal.pk)  # e.g. reassigned to someone the actor no longer sees
        return Response(s.deal_data(fresh), status=status_code)

    @extend_schema(request=s.DealCreateSerializer, responses={201: s.DealSerializer, **ERRORS_WRITE})
    def create(self, request):
        serializer = s.DealCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        deal = services.deal_create(actor=request.user, **{"custom": {}, **serializer.validated_data})
        return self._respond(deal, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.DealUpdateSerializer,
        responses={200: s.DealSerializer, **ERRORS_DEAL_WRITE},
        description="Change fields other than the stage and status. `version` is required.",
    )
    def partial_update(self, request, pk=None):
        deal = self._changeable_deal()
        serializer = s.DealUpdateSerializer(data=request.data, context={**self.get_serializer_context(), "deal": deal})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = data.pop("version")
        deal = services.deal_update(deal=deal, actor=request.user, expected_version=version, **data)
        return self._respond(deal)

    @extend_schema(request=s.DealMoveSerializer, responses={200: s.DealSerializer, **ERRORS_DEAL_WRITE})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the deal to another stage of its pipeline (into a won stage marks it won)."""
        serializer = s.DealMoveSerializer(data=request.data)
        valid = serializer.is_valid()
        if valid:
            stage_id = serializer.validated_data["stage"]
            deal = self._deal_to_move(stage_id)
        else:
            self._changeable_deal()  # 404 and 403 come before input errors
            raise ValidationError(serializer.errors)
        to_stage = getattr(deal, "target_stage", None)
        if to_stage is None:  # no such stage, or one of another pipeline (the service says so)
            to_stage = Stage.objects.filter(pk=stage_id).first()
            if to_stage is None:
                raise serializer.fields["stage"].does_not_exist(stage_id)
        owner = deal.owner
        moved = services.deal_move(
            deal=deal, to_stage=to_stage, actor=request.user, expected_version=serializer.validated_data["version"]
        )
        # A move changes neither the owner nor who may see the deal: answer with the moved deal
        # as the service returns it (its stage, lead and pipeline kept), without reading it again.
        moved.owner = owner
        return Response(s.deal_data(moved))

    @extend_schema(request=s.DealLoseSerializer, responses={200: s.DealSerializer, **ERRORS_DEAL_WRITE})
    @action(detail=True, methods=["post"])
    def lose(self, request, pk=None):
        """Mark an open deal lost with a reason (it keeps its stage)."""
        deal = self._changeable_deal()
        serializer = s.DealLoseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        deal = services.deal_mark_lost(
            deal=deal, reason=data["reason"], note=data.get("note", ""), actor=request.user,
            expected_version=data.get("version"),
        )
        return self._respond(deal)

    @extend_schema(request=s.DealReopenSerializer, responses={200: s.DealSerializer, **ERRORS_DEAL_WRITE})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen a lost deal in the stage where it was lost."""
        deal = self._changeable_deal()
        serializer = s.DealReopenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = services.deal_reopen(deal=deal, actor=request.user, expected_version=serializer.validated_data.get("version"))
        return self._respond(deal)

    @extend_schema(responses={200: s.DealHistorySerializer, **ERRORS_OBJECT}, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request, pk=None):
        """The deal's stage and status changes and its field changes, oldest first."""
        deal = self.get_object()
        data = {
            "stage_changes": StageChange.objects.filter(deal=deal).select_related("actor").order_by("at", "pk"),
            "deal_changes": DealChange.objects.filter(deal=deal).select_related("actor").order_by("at", "pk"),
        }
        return Response(s.DealHistorySerializer(data).data)

    # --- Who is on the deal: read with the deal, changed by whoever may change it (pipeline.people)

    def _contacts(self, deal: Deal):
        return (
            DealContact.objects.filter(deal=deal).select_related("person", "role")
            .order_by(F("role__position").asc(nulls_last=True), "pk")
        )

    def _contact_or_404(self, deal: Deal, person_id) -> DealContact:
        try:
            person_id = int(person_id)
        except (TypeError, ValueError):
            person_id = None
        contact = self._contacts(deal).filter(person_id=person_id).first() if person_id else None
        if contact is None:
            raise NotFound(_("This person is not on the deal."))
        return contact

    @extend_schema(
        methods=["GET"], responses={200: s.DealContactSerializer(many=True), **ERRORS_OBJECT}, filters=False,
        description="The people on the deal with their roles; people without a role last.",
    )
    @extend_schema(
        methods=["POST"], request=s.DealContactAddSerializer,
        responses={201: s.DealContactSerializer, 200: s.DealContactSerializer, **ERRORS_OBJECT_WRITE},
        description=(
            "Put a person on the deal in a role (201); a person already on it gets the role (200). Needs the right "
            "to change the deal."
        ),
    )
    # serializer_class: what the browsable API's forms show for these addresses
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None,
            serializer_class=s.DealContactAddSerializer)
    def contacts(self, request, pk=None):
        if request.method == "GET":
            return Response(s.DealContactSerializer(self._contacts(self.get_object()), many=True).data)
        deal = self._changeable_deal()  # 404 and 403 come before input errors
        serializer = s.DealContactAddSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        person, role = serializer.validated_data["person"], serializer.validated_data.get("role")
        existed = DealContact.objects.filter(deal=deal, person=person).exists()
        try:
            people_services.deal_contact_add(deal=deal, person=person, role=role, actor=request.user)
        except PipelineError as refusal:
            raise _on_field(refusal, CONTACT_REFUSAL_FIELDS) from None
        contact = self._contact_or_404(deal, person.pk)
        return Response(s.DealContactSerializer(contact).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"], responses={200: s.DealContactSerializer, **ERRORS_OBJECT}, filters=False,
        parameters=[CONTACT_PERSON_PARAMETER], description="One person on the deal, with their role.",
    )
    @extend_schema(
        methods=["PATCH"], request=s.DealContactRoleSerializer, parameters=[CONTACT_PERSON_PARAMETER],
        responses={200: s.DealContactSerializer, **ERRORS_OBJECT_WRITE}, description="Change the person's role on the deal.",
    )
    @extend_schema(
        methods=["DELETE"], responses={204: None, **ERRORS_OBJECT_WRITE}, parameters=[CONTACT_PERSON_PARAMETER],
        description="Take the person off the deal (the person stays in the address book).",
    )
    @action(
        detail=True, methods=["get", "patch", "delete"], url_path=r"contacts/(?P<person_id>[^/.]+)", url_name="contact",
        filter_backends=[], pagination_class=None, serializer_class=s.DealContactRoleSerializer,
    )
    def contact(self, request, pk=None, person_id=None):
        if request.method == "GET":
            return Response(s.DealContactSerializer(self._contact_or_404(self.get_object(), person_id)).data)
        deal = self._changeable_deal()
        contact = self._contact_or_404(deal, person_id)
        if request.method == "DELETE":
            people_services.deal_contact_remove(deal=deal, person=contact.person, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = s.DealContactRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            people_services.deal_contact_add(
                deal=deal, person=contact.person, role=serializer.validated_data["role"], actor=request.user
            )
        except PipelineError as refusal:
            raise _on_field(refusal, CONTACT_REFUSAL_FIELDS) from None
        return Response(s.DealContactSerializer(self._contact_or_404(deal, contact.person_id)).data)


# --- Activities and notes ----------------------------------------------------------------------


def _subject_to_change(user, data: dict):
    """The deal, organisation or person an activity or note is added to: the caller must be allowed
    to change it (seeing it was checked by the serializer). One subject is the service's rule."""
    deal, organization, person = data.get("deal"), data.get("organization"), data.get("person")
    if deal is not None and not selectors.can_change_deal(user, deal):
        raise PermissionDenied(_("You may look at this deal but not change it."))
    if organization is not None and not selectors.can_change_organization(user, organization):
        raise PermissionDenied(_("You may look at this organisation but not change it."))
    if person is not None and not selectors.can_change_person(user, person):
        raise PermissionDenied(_("You may look at this person but not change it."))
    return {"deal": deal, "organization": organization, "person": person}


SUBJECT_REFUSAL_FIELDS = {"erased": "person"}


@extend_schema_view(
    list=extend_schema(responses={200: s.ActivitySerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.ActivitySerializer, **ERRORS_OBJECT}),
)
class ActivityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Activities you may see: those on deals you may see, and those on organisations and people you
    may see by people whose deals you may see. Writes go through activities.services."""

    queryset = Activity.objects.none()
    serializer_class = s.ActivitySerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ActivityFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return activity_selectors.visible_activities(self.request.user).select_related("owner").order_by("due_at", "pk")

    def _respond(self, activity: Activity, status_code=status.HTTP_200_OK) -> Response:
        activity = Activity.objects.select_related("owner").get(pk=activity.pk)
        return Response(s.ActivitySerializer(activity).data, status=status_code)

    @extend_schema(
        request=s.ActivityCreateSerializer, responses={201: s.ActivitySerializer, **ERRORS_WRITE},
        description=(
            "Plan an activity on one deal, organisation or person that you may change. The owner is you unless "
            "you give one you may assign."
        ),
    )
    def create(self, request):
        serializer = s.ActivityCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        subject = _subject_to_change(request.user, data)
        try:
            activity = activity_services.activity_create(
                actor=request.user, kind=data["kind"], title=data["title"], due_at=data["due_at"], note=data["note"],
                owner=data.get("owner") or request.user, custom=data.get("custom", {}), **subject,
            )
        except PipelineError as refusal:
            raise _on_field(refusal, SUBJECT_REFUSAL_FIELDS) from None
        return self._respond(activity, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.ActivityUpdateSerializer, responses={200: s.ActivitySerializer, **ERRORS_OBJECT_WRITE},
        description="Change an activity's fields, or mark it done (`done`: true) or open again (false).",
    )
    def partial_update(self, request, pk=None):
        activity = self.get_object()
        if not activity_selectors.can_change_activity(request.user, activity):
            raise PermissionDenied(_("You may look at this activity but not change it."))
        serializer = s.ActivityUpdateSerializer(
            instance=activity, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        done = data.pop("done", None)
        with transaction.atomic():  # the fields and the done mark together, or neither
            if data:
                activity = activity_services.activity_update(activity=activity, actor=request.user, **data)
            if done is True:
                activity = activity_services.activity_complete(activity=activity, actor=request.user)
            elif done is False:
                activity = activity_services.activity_reopen(activity=activity, actor=request.user)
        return self._respond(activity)


@extend_schema_view(
    list=extend_schema(responses={200: s.NoteSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.NoteSerializer, **ERRORS_OBJECT}),
)
class NoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Notes you may see, newest first: those on deals you may see, and those on organisations and
    people you may see by people whose deals you may see. Notes are kept as written: added, never changed."""

    queryset = Note.objects.none()
    serializer_class = s.NoteSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = NoteFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return activity_selectors.visible_notes(self.request.user).select_related("author").order_by("-created_at", "-pk")

    @extend_schema(
        request=s.NoteCreateSerializer, responses={201: s.NoteSerializer, **ERRORS_WRITE},
        description="Write a note on one deal, organisation or person that you may change.",
    )
    def create(self, request):
        serializer = s.NoteCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        subject = _subject_to_change(request.user, serializer.validated_data)
        try:
            note = activity_services.note_create(actor=request.user, body=serializer.validated_data["body"], **subject)
        except PipelineError as refusal:
            raise _on_field(refusal, {**SUBJECT_REFUSAL_FIELDS, "empty_note": "body", "note_too_long": "body"}) from None
        note = Note.objects.select_related("author").get(pk=note.pk)
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)


# --- Products and offers -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(responses={200: s.ProductSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.ProductSerializer, **ERRORS_OBJECT}),
)
class ProductViewSet(viewsets.ReadOnlyModelViewSet):
    """The price book: every product, those no longer sold too (`active=false`). Admins keep it."""

    queryset = Product.objects.none()
    serializer_class = s.ProductSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ProductFilter

    def get_queryset(self):
        return Product.objects.order_by("name", "pk")


def offers_with_versions(queryset):
    versions = OfferVersion.objects.prefetch_related(
        Prefetch("packages", OfferPackage.objects.order_by("position", "pk")),
        Prefetch("lines", OfferLine.objects.order_by("position", "pk")),
    ).order_by("-number")
    return queryset.prefetch_related(Prefetch("versions", versions))


@extend_schema_view(
    list=extend_schema(responses={200: s.OfferSerializer(many=True), **ERRORS_LIST}),
    retrieve=extend_schema(responses={200: s.OfferSerializer, **ERRORS_OBJECT}),
)
class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Offers on deals you may see, newest first, with their versions (newest first), packages, lines
    and totals. Whoever may change the deal drafts them through offers.services; sending, approval,
    new versions and the customer's answer stay on the offer's page, where the customer's link and
    the approval rules are shown."""

    queryset = Offer.objects.none()
    serializer_class = s.OfferSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = OfferFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return offers_with_versions(offer_selectors.visible_offers(self.request.user)).order_by("-created_at", "-pk")

    def _respond(self, offer_id: int, status_code=status.HTTP_200_OK) -> Response:
        offer = offers_with_versions(Offer.objects.all()).get(pk=offer_id)
        return Response(s.OfferSerializer(offer).data, status=status_code)

    def _draft(self) -> OfferVersion:
        """The offer's newest version, if the caller may change its deal (404, then 403)."""
        offer = self.get_object()
        if not selectors.can_change_deal(self.request.user, offer.deal):
            raise PermissionDenied(_("You may look at this deal but not change it."))
        return offer.versions.all()[0]  # newest first (prefetched); the service says if it is no draft

    @extend_schema(
        request=s.OfferCreateSerializer, responses={201: s.OfferSerializer, **ERRORS_WRITE},
        description="A new offer on a deal you may change, with an empty first version (a draft).",
    )
    def create(self, request):
        serializer = s.OfferCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not selectors.can_change_deal(request.user, data["deal"]):
            raise PermissionDenied(_("You may look at this deal but not change it."))
        version = offer_services.offer_create(actor=request.user, **data)
        return self._respond(version.offer_id, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.OfferTextsSerializer, responses={200: s.OfferSerializer, **ERRORS_OBJECT_WRITE},
        description="Change the texts, validity or language of the offer's newest version while it is a draft.",
    )
    def partial_update(self, request, pk=None):
        version = self._draft()
        serializer = s.OfferTextsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offer_services.version_update(version=version, actor=request.user, **serializer.validated_data)
        return self._respond(version.offer_id)

    @extend_schema(
        request=s.OfferLineAddSerializer, responses={201: s.OfferSerializer, **ERRORS_OBJECT_WRITE},
        description=(
            "Add a line to the offer's newest version while it is a draft: from a product (its name, unit, price "
            "and tax rate are the defaults) or a description and a price."
        ),
    )
    @action(detail=True, methods=["post"])
    def lines(self, request, pk=None):
        version = self._draft()
        serializer = s.OfferLineAddSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        offer_services.line_add(version=version, actor=request.user, **serializer.validated_data)
        return self._respond(version.offer_id, status.HTTP_201_CREATED)


# --- Forecast --------------------------------------------------------------------------------------


class ForecastView(APIView):
    @extend_schema(
        parameters=[s.ForecastQuerySerializer],
        responses={200: s.ForecastSerializer, 400: OpenApiResponse(s.ValidationErrorSerializer), **ERRORS_READ},
        description=(
            "Won and expected revenue per period and currency, with the P10–P90 range: your own deals "
            "for reps, your people's for managers, everyone's for admins. Overdue open deals count in the "
            "first period. `weighted` is amount × probability, `learned` uses the win rates learned from "
            "the stage history, `montecarlo` simulates the open pipeline; a past `as_of` sees only what "
            "was known that day. Monte Carlo runs are seeded by `as_of`, so a question always gets the "
            "same answer."
        ),
    )
    def get(self, request):
        query = s.ForecastQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        pipeline = params.get("pipeline") or selectors.visible_pipelines(request.user).filter(is_default=True).first()
        if pipeline is None:
            pipeline = selectors.visible_pipelines(request.user).first()
        if pipeline is None:
            raise PipelineError(_("There is no pipeline yet."), code="no_pipeline")
        result = forecast_engine.forecast(
            user=request.user, pipeline=pipeline, method=params["method"], period=params["period"],
            as_of=params.get("as_of"), horizon=params["horizon"],
        )
        return Response(s.ForecastSerializer(result).data)


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema, for signed-in users and token clients (401 JSON for anyone else)."""

    permission_classes = [IsAuthenticated]
