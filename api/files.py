"""Files through the REST API: list the files you may see, upload onto a record you may change,
read one and download its content. Through attachments.selectors and attachments.services, as
the pages; the same limits, scan and quarantine, and the same 404/403 answers as for the record."""
import django_filters
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response

from attachments import selectors as attachment_selectors
from attachments import services as attachment_services
from attachments import uploads
from attachments.models import Attachment, AttachmentSource
from attachments.views import file_response
from pipeline import selectors as pipeline_selectors
from pipeline.exceptions import PipelineError

from .filters import SubjectFilterMixin
from .serializers import RefusesUnknownFieldsMixin, SubjectFieldsMixin
from .views import Pagination


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class ScannerUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "scanner_unavailable"


class AttachmentSerializer(serializers.ModelSerializer):
    """A file as clients read it. Needs select_related("content", "uploaded_by")."""

    uploaded_by_name = serializers.SerializerMethodField()
    quarantined = serializers.SerializerMethodField(help_text=gettext_lazy("A virus was found: it cannot be downloaded."))
    sha256 = serializers.SerializerMethodField()
    download_url = serializers.HyperlinkedIdentityField(view_name="api:attachment-download", read_only=True)

    class Meta:
        model = Attachment
        fields = [
            "id", "name", "size", "mime_type", "sha256", "deal", "organization", "person", "source", "uploaded_by",
            "uploaded_by_name", "uploaded_at", "quarantined", "download_url",
        ]
        read_only_fields = fields
        extra_kwargs = {"mime_type": {"help_text": gettext_lazy("Sniffed from the content, not taken from the name.")}}

    def get_uploaded_by_name(self, attachment) -> str | None:
        return str(attachment.uploaded_by) if attachment.uploaded_by_id else None

    def get_quarantined(self, attachment) -> bool:
        return bool(attachment.content_id and attachment.content.is_quarantined)

    def get_sha256(self, attachment) -> str | None:
        return attachment.content.sha256 if attachment.content_id else None


class AttachmentUploadSerializer(RefusesUnknownFieldsMixin, SubjectFieldsMixin):
    file = serializers.FileField(help_text=gettext_lazy("The file (multipart/form-data)."))
    name = serializers.CharField(max_length=200, required=False, help_text=gettext_lazy("Its name; the uploaded file's by default."))


class AttachmentRenameSerializer(RefusesUnknownFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)


class AttachmentFilter(SubjectFilterMixin):
    class Meta:
        model = Attachment
        fields: list[str] = []


ERRORS = {
    401: OpenApiResponse(description="Not signed in, or the token is invalid or revoked."),
    403: OpenApiResponse(description="Signed in, but not allowed (or the file is quarantined)."),
    404: OpenApiResponse(description="No such file, or its record is not visible to you."),
}


@extend_schema_view(
    list=extend_schema(responses={200: AttachmentSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(responses={200: AttachmentSerializer, **ERRORS}),
)
class AttachmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Files on the deals, organisations and people you may see, newest first."""

    queryset = Attachment.objects.none()
    serializer_class = AttachmentSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = AttachmentFilter
    pagination_class = Pagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (
            attachment_selectors.visible_attachments(self.request.user)
            .select_related("content", "uploaded_by").order_by("-uploaded_at", "-pk")
        )

    def initial(self, request, *args, **kwargs):
        # Before authentication reads a session client's body (its CSRF check): an announced size
        # over the limit is refused unread, and the handler counts what streams in.
        if request.method == "POST" and self.action == "create":
            refusal = uploads.refuse_by_length(request._request)
            if refusal:
                raise UploadTooLarge(refusal)
            request._request.upload_handlers.insert(0, uploads.LimitedUploadHandler(request._request))
        super().initial(request, *args, **kwargs)

    def _changeable(self, pk) -> Attachment:
        return attachment_selectors.attachment_for_user_or_404(self.request.user, pk, change=True)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer, 400: OpenApiResponse(description="Invalid input."),
                   413: OpenApiResponse(description="Larger than the limits."),
                   503: OpenApiResponse(description="The virus scanner is not answering; try again later."), **ERRORS},
        description=(
            "Upload one file onto one deal, organisation or person that you may change (multipart/form-data). "
            "An infected file is kept in quarantine: the answer says `quarantined: true`."
        ),
    )
    def create(self, request):
        serializer = AttachmentUploadSerializer(data=request.data, context=self.get_serializer_context())
        refusal = getattr(request._request, "upload_refusal", "")  # set while request.data was read
        if refusal:
            raise UploadTooLarge(refusal)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subject = {key: data.get(key) for key in ("deal", "organization", "person")}
        checks = {
            "deal": pipeline_selectors.can_change_deal,
            "organization": pipeline_selectors.can_change_organization,
            "person": pipeline_selectors.can_change_person,
        }
        for key, record in subject.items():
            if record is not None and not checks[key](request.user, record):
                raise PermissionDenied(_("You may look at this record but not change it."))
        try:
            attachment_services.upload_check([(data["file"].name, data["file"].size)])
            attachment = attachment_services.attachment_add(
                file=data["file"], name=data.get("name"), actor=request.user, source=AttachmentSource.API, **subject,
            )
        except PipelineError as error:
            if error.code in ("file_too_large", "upload_too_large", "too_many_files"):
                raise UploadTooLarge(error.message) from None
            if error.code == "scanner_unavailable":
                raise ScannerUnavailable(error.message) from None
            field = "person" if error.code == "erased" else "file" if error.code in ("invalid_name",) else "non_field_errors"
            raise ValidationError({field: [error.message]}) from None
        attachment = Attachment.objects.select_related("content", "uploaded_by").get(pk=attachment.pk)
        return Response(AttachmentSerializer(attachment, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AttachmentRenameSerializer, responses={200: AttachmentSerializer, 400: OpenApiResponse(description="Invalid name."), **ERRORS},
                   description="Rename a file on a record you may change.")
    def partial_update(self, request, pk=None):
        attachment = self._changeable(pk)
        serializer = AttachmentRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            attachment_services.attachment_rename(attachment=attachment, name=serializer.validated_data["name"], actor=request.user)
        except PipelineError as error:
            raise ValidationError({"name": [error.message]}) from None
        attachment = Attachment.objects.select_related("content", "uploaded_by").get(pk=attachment.pk)
        return Response(AttachmentSerializer(attachment, context=self.get_serializer_context()).data)

    @extend_schema(responses={204: None, **ERRORS},
                   description="Delete a file: gone from the record now, from the storage after the grace period.")
    def destroy(self, request, pk=None):
        attachment_services.attachment_delete(attachment=self._changeable(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={(200, "*/*"): OpenApiTypes.BINARY, **ERRORS},
        description=(
            "The file's content, as an attachment, with its sniffed type and `X-Content-Type-Options: nosniff`. "
            "A quarantined file answers 403."
        ),
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request, pk=None):
        attachment = attachment_selectors.attachment_for_user_or_404(request.user, pk)
        return file_response(attachment, inline=False)
