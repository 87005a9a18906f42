"""Downloads of the board and the lead list with the filters they were showing, and of everything
a user may see."""
import tempfile

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from pipeline.selectors import board_deals, visible_pipelines
from qualification.forms import OrganizationFilterForm
from qualification.selectors import organization_list

from . import everything, services

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _date(value: str | None):
    try:
        return parse_date(value or "")
    except ValueError:
        return None


def _board_filters(request) -> dict:
    """The board's query parameters: pipeline, owner, q, close_from, close_to."""
    pipelines = visible_pipelines(request.user)
    pipeline_id = request.GET.get("pipeline")
    if pipeline_id:
        pipeline = get_object_or_404(pipelines, pk=pipeline_id if str(pipeline_id).isdigit() else 0)
    else:
        pipeline = pipelines.filter(is_default=True).first() or get_object_or_404(pipelines.order_by("position", "pk")[:1])
    owner = request.GET.get("owner") or None
    return {
        "user": request.user,
        "pipeline": pipeline,
        "owner_id": int(owner) if owner and owner.isdigit() else None,
        "q": (request.GET.get("q") or "").strip(),
        "close_from": _date(request.GET.get("close_from")),
        "close_to": _date(request.GET.get("close_to")),
    }


def _filename(*parts: str, ext: str) -> str:
    stamp = timezone.localdate().isoformat()
    return "-".join(["stageflow", *(slugify(p) or "export" for p in parts), stamp]) + f".{ext}"


def _csv_style(request) -> services.CsvStyle:
    """`?separator=comma|semicolon` chooses; without it the user's language decides."""
    return services.CSV_STYLES.get(request.GET.get("separator", ""), None) or services.CsvStyle.for_language()


def _csv_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def board_csv(request):
    filters = _board_filters(request)
    deals = services.deals_for_export(board_deals(**filters))
    lines = services.csv_lines(services.deal_columns(), deals, style=_csv_style(request))
    return _csv_response(lines, _filename("board", filters["pipeline"].name, ext="csv"))


@require_GET
def board_xlsx(request):
    filters = _board_filters(request)
    deals = services.deals_for_export(board_deals(**filters))
    data = services.xlsx_bytes(services.deal_columns(), deals, title=filters["pipeline"].name)
    return _xlsx_response(data, _filename("board", filters["pipeline"].name, ext="xlsx"))


def _organizations(request):
    return organization_list(user=request.user, **OrganizationFilterForm(request.GET).filters())


@require_GET
def organizations_csv(request):
    lines = services.csv_lines(services.organization_columns(), services.organizations_for_export(_organizations(request)), style=_csv_style(request))
    return _csv_response(lines, _filename("organizations", ext="csv"))


@require_GET
def organizations_xlsx(request):
    data = services.xlsx_bytes(services.organization_columns(), services.organizations_for_export(_organizations(request)), title="Organizations")
    return _xlsx_response(data, _filename("organizations", ext="xlsx"))


@require_GET
def everything_zip(request):
    """Everything the user may see as a ZIP of CSV files (exports/everything.py)."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    everything.everything_zip(request.user, spool)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=_filename("export", ext="zip"),
                        content_type="application/zip")


@require_GET
def everything_json(request):
    """Everything the user may see as one JSON document, streamed."""
    response = StreamingHttpResponse(everything.everything_json(request.user), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{_filename("export", ext="json")}"'
    return response
