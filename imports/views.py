"""Import pages: upload → column mapping → preview → commit → progress and result."""
import csv

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .forms import CommitForm, MappingForm, UploadForm, ValuesForm
from .models import ImportJob, ImportKind, ImportStatus
from pipeline.selectors import visible_pipelines

from .services import (
    import_preview, targets as import_targets, import_settings, import_start, job_create, job_values_set, problem_rows, sample_rows,
)
from .presets import preset_detect
from .undo import UndoRefused, import_undo, undo_refusals
from .values import layout_for
from exports.services import neutralise

PREVIEW_ROWS = 50
PREVIEW_PROBLEMS = 200


def _job(request, pk) -> ImportJob:
    # Only the person who uploaded a file sees it: it may hold leads others cannot see.
    return get_object_or_404(ImportJob.objects.select_related("pipeline", "created_by"), pk=pk, created_by=request.user)


def upload(request):
    initial = {"kind": request.GET.get("kind")} if request.GET.get("kind") in ImportKind.values else None
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        job = job_create(
            user=request.user, kind=data["kind"], parsed=form.parsed, filename=data["file"].name,
            pipeline=data["pipeline"] if data["kind"] == ImportKind.DEALS else None,
        )
        if job.encoding:
            messages.info(request, _("The file was read as %(encoding)s text.") % {"encoding": job.encoding})
        return redirect("imports:mapping", pk=job.pk)
    recent = ImportJob.objects.filter(created_by=request.user).defer("rows", "headers", "errors")[:10]
    limits = import_settings()
    return render(request, "imports/upload.html", {"form": form, "recent": recent, "limits": limits, "nav": "import"})


def mapping(request, pk):
    job = _job(request, pk)
    if job.status != ImportStatus.UPLOADED:
        return redirect(job)
    form = MappingForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        job.mapping = form.mapping
        job.save(update_fields=["mapping"])
        return redirect("imports:values", pk=job.pk)
    preset = preset_detect(job.kind, job.headers)
    return render(request, "imports/mapping.html", {"job": job, "form": form, "preset": preset, "nav": "import"})


def values(request, pk):
    """Step 3: what the values of the stage, status, owner, country and lost-reason columns mean,
    and the file's date order and decimal separator, proposed and confirmed."""
    job = _job(request, pk)
    if job.status != ImportStatus.UPLOADED:
        return redirect(job)
    layout = layout_for(job)
    remembered = {"value_mapping": layout.value_mapping, "formats": layout.formats} if layout else None
    form = ValuesForm(request.POST if request.method == "POST" else None, job=job, user=request.user, remembered=remembered)
    if request.method == "POST" and form.is_valid():
        job_values_set(job, value_mapping=form.value_mapping, formats=form.formats)
        return redirect("imports:preview", pk=job.pk)
    return render(request, "imports/values.html", {"job": job, "form": form, "remembered": layout is not None,
                                                   "nav": "import"})


def problems(request, pk):
    """Every problem row of the file (or of the finished import) as CSV: its line, its messages
    and its cells, to correct and upload again."""
    job = _job(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-problems.csv"'
    response.write("\ufeff")
    csv.writer(response).writerows([neutralise(cell) for cell in row] for row in problem_rows(job, user=request.user))
    return response


def preview(request, pk):
    job = _job(request, pk)
    if job.status != ImportStatus.UPLOADED:
        return redirect(job)
    result = import_preview(job, user=request.user)
    problems = [r for r in result.rows if r.errors or r.duplicate][:PREVIEW_PROBLEMS]
    targets = [t for t in import_targets(job.kind) if t.name in job.mapping]
    if job.kind == ImportKind.DEALS and "closed_at" not in job.mapping and {"stage", "status"} & set(job.mapping):
        # Closed deals take their close date from another column: show the one they get.
        targets.append(next(t for t in import_targets(job.kind) if t.name == "closed_at"))
    for row in result.rows[:PREVIEW_ROWS]:
        # A value that could not be read is shown as it stands in the file.
        row.display = [
            row.shown[t.name] if t.name in row.shown
            else (row.cells[job.mapping[t.name]] if t.name in job.mapping else "")
            if row.values.get(t.name) in (None, "", []) else row.values[t.name]
            for t in targets
        ]
    context = {
        "job": job,
        "preview": result,
        "targets": targets,
        "sample": result.rows[:PREVIEW_ROWS],
        "problems": problems,
        "problem_count": len(result.error_rows) + len(result.duplicate_rows),
        "commit_form": CommitForm(),
        "background": job.total_rows > import_settings()["background_rows"],
        "nav": "import",
    }
    return render(request, "imports/preview.html", context)


@require_POST
def commit(request, pk):
    with transaction.atomic():
        job = get_object_or_404(
            ImportJob.objects.select_for_update(of=("self",)).select_related("pipeline", "created_by"), pk=pk, created_by=request.user
        )
        if job.status != ImportStatus.UPLOADED:
            return redirect(job)  # a second click must not import twice
        form = CommitForm(request.POST)
        job.skip_invalid = form.is_valid() and form.cleaned_data["skip_invalid"]
        job.save(update_fields=["skip_invalid"])
        queued = import_start(job)
    if not queued:
        job.refresh_from_db()
        if job.status == ImportStatus.DONE:
            messages.success(request, _("The import is complete."))
    return redirect(job)


def status(request, pk):
    job = _job(request, pk)
    template = "imports/status.html"
    if request.htmx and not request.htmx.boosted:
        template += "#progress"
    return render(request, template, {"job": job, "nav": "import"})


def sample(request, kind):
    """An example file to fill in: the headers the mapping step recognises and one row."""
    if kind not in ImportKind.values:
        raise Http404
    pipeline = visible_pipelines(request.user).order_by("-is_default", "position", "pk").first()
    first = pipeline.stages.order_by("position", "pk").first() if pipeline else None
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="stageflow-{kind}-sample.csv"'
    response.write("\ufeff")
    csv.writer(response).writerows(sample_rows(kind, user=request.user, stage_name=first.name if first else ""))
    return response


def undo(request, pk):
    """Undo a finished import as a whole: what it will remove, or why it cannot; POST does it."""
    job = _job(request, pk)
    if request.method == "POST":
        try:
            import_undo(job, actor=request.user)
        except UndoRefused:
            messages.error(request, _("The import could not be undone; the reasons are listed below."))
            return redirect("imports:undo", pk=job.pk)
        messages.success(request, _("The import was undone: everything it created has been removed."))
        return redirect(job)
    context = {"job": job, "refusals": undo_refusals(job), "nav": "import"}
    return render(request, "imports/undo.html", context)
