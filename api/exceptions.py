"""One error format for the whole API: `{"detail": message, "code": code}`, plus the fields'
messages for validation errors, plus the current deal for a version conflict."""
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pipeline.custom_fields import CustomFieldsInvalid
from pipeline.exceptions import PipelineError, VersionConflict


def _first_code(codes):
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    if isinstance(codes, dict) and codes:
        return _first_code(next(iter(codes.values())))
    return "error"


def exception_handler(exc, context):
    if isinstance(exc, PipelineError):
        body = {"detail": str(exc.message), "code": exc.code}
        if getattr(exc, "field", None):  # a refusal about one input: also under its name, as field errors are
            body[exc.field] = [str(exc.message)]
        if isinstance(exc, CustomFieldsInvalid):  # by key, as nested field errors are
            body["custom_fields"] = {key: [str(message)] for key, message in exc.errors.items()}
        if isinstance(exc, VersionConflict) and exc.deal is not None:
            from .serializers import DealSerializer

            body["deal"] = DealSerializer(exc.deal, context=context).data
        return Response(body, status=exc.status_code)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug, not client input: let it surface as a 500 and be fixed

    if isinstance(exc, exceptions.ValidationError):
        data = response.data
        if isinstance(data, dict):
            body = {"detail": _("Invalid input."), "code": "invalid", **data}
        else:  # a list of non-field errors
            body = {"detail": " ".join(str(m) for m in data) or _("Invalid input."), "code": "invalid",
                    "non_field_errors": data}
        response.data = body
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data["code"] = _first_code(exc.get_codes())
    return response
