"""The deal page (with its timeline and edit form), the full deal form and the rotting snooze."""
from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .. import custom_fields, extensions, selectors, services
from ..extensions import TimelineEntry
from ..exceptions import PipelineError, VersionConflict
from ..forms import DealCreateForm, DealEditForm, LoseForm, SnoozeForm
from ..models import Deal, DealField, DealStatus, ForecastCategory, Organization, Stage
from .contacts import contacts_context
from .common import DEAL_PAGE_TOAST, changeable_deal, organization_by_name, refused, visible_deal_or_404


def _move_targets(stages: list[Stage], stage_id: int) -> list[Stage]:
    return [s for s in stages if s.reachable and s.pk != stage_id]


def _change_value_display(field: str, value: str) -> str:
    """A stored history value as the active language writes it (12.500,00 / 9. Oktober 2026)."""
    if not value:
        return value
    try:
        if field == DealField.AMOUNT:
            return formats.number_format(Decimal(value), 2, use_l10n=True, force_grouping=True)
        if field == DealField.EXPECTED_CLOSE:
            return formats.date_format(date.fromisoformat(value), "DATE_FORMAT")
        if field == DealField.PROBABILITY:
            return f"{int(value)} %"
        if field == DealField.FORECAST_CATEGORY:
            return str(dict(ForecastCategory.choices).get(value, value))
    except (ArithmeticError, ValueError):
        pass
    return value


def _history(deal: Deal, user=None) -> list[TimelineEntry]:
    """The deal's timeline, newest first (what a rep looks for is what happened last): stage
    changes, field changes, and what other apps add (activities, notes) via pipeline.extensions."""
    entries = [
        TimelineEntry(at=row.at, kind="stage", row=row, order=0)
        for row in deal.stage_changes.select_related("from_stage", "to_stage", "actor", "lost_reason")
    ]
    field_rows = list(deal.changes.select_related("actor"))
    # Owners and leads are stored by id: shown by their names (one query each, only when present).
    names = {}
    for field, model in ((DealField.OWNER, get_user_model()), (DealField.ORGANIZATION, Organization)):
        ids = {int(v) for r in field_rows if r.field == field for v in (r.old_value, r.new_value) if v.isdigit()}
        names[field] = {o.pk: str(o) for o in model.objects.filter(pk__in=ids)} if ids else {}
    for row in field_rows:
        old, new = row.old_value, row.new_value
        if row.field in names:
            old = names[row.field].get(int(old), old) if old.isdigit() else old
            new = names[row.field].get(int(new), new) if new.isdigit() else new
        else:
            old, new = _change_value_display(row.field, old), _change_value_display(row.field, new)
        label = row.field_label or row.field_key if row.field == DealField.CUSTOM else row.get_field_display()
        entries.append(TimelineEntry(at=row.at, kind="field", row=row, label=label, old=old, new=new, order=1))
    for source in extensions.timeline_sources():
        entries.extend(source(deal=deal, user=user))
    entries.sort(key=lambda e: (e.at, e.order, e.row.pk), reverse=True)
    return entries


def _deal_page_context(request, deal: Deal, *, form=None, lose_form=None, contact_form=None) -> dict:
    user = request.user
    can_change = selectors.can_change_deal(user, deal)
    stages = selectors.pipeline_stages_reachable_from(pipeline_id=deal.pipeline_id, stage_id=deal.stage_id)
    deal.stage = next((s for s in stages if s.pk == deal.stage_id), deal.stage)
    targets = _move_targets(stages, deal.stage_id)
    custom_fields.shown([deal], "deal")
    return {
        "nav": "board",
        "deal": deal,
        "can_change": can_change,
        "form": form or (DealEditForm(user=user, deal=deal) if can_change else None),
        "lose_form": lose_form or LoseForm(initial={"version": deal.version}),
        "targets": targets,
        "next_stage": next((s for s in targets if s.position > deal.stage.position), None),
        "stages": stages,
        "history": _history(deal, user),
        "organization_is_customer": Deal.objects.filter(organization_id=deal.organization_id, status=DealStatus.WON).exists(),
        "board_url": deal.pipeline.get_absolute_url(),
        "move_toast": _deal_page_toast(request, deal),
        "snooze_form": SnoozeForm(initial={"version": deal.version}),
        "panels": [
            html for panel in extensions.deal_panels() if (html := panel(request=request, deal=deal, can_change=can_change))
        ],
        **contacts_context(request, deal, can_change, form=contact_form),
    }


def deal_page_render(request, deal: Deal, *, contact_form=None, status: int = 200):
    """The deal page, e.g. again with the contacts form's errors (without JavaScript)."""
    return render(request, "pipeline/deal_detail.html", _deal_page_context(request, deal, contact_form=contact_form), status=status)


def _deal_page_toast(request, deal: Deal) -> dict | None:
    """The toast of the move just made from this deal's page, once; None when the deal has changed
    since (its Undo would only meet a version conflict)."""
    toast = request.session.get(DEAL_PAGE_TOAST)
    if not toast or toast.get("deal") != deal.pk:
        return None
    del request.session[DEAL_PAGE_TOAST]
    return toast if toast["undo"]["version"] == deal.version else None


@require_http_methods(["GET", "POST"])
def deal_detail(request, pk):
    """GET /pipeline/deals/<id>/ the deal page; POST saves the edit form through deal_update."""
    deal = visible_deal_or_404(request.user, pk)
    if request.method == "GET":
        return render(request, "pipeline/deal_detail.html", _deal_page_context(request, deal))

    if not selectors.can_change_deal(request.user, deal):
        raise PermissionDenied(_("You may look at this deal but not change it."))
    form = DealEditForm(request.POST, user=request.user, deal=deal)
    status = 400
    if form.is_valid():
        try:
            services.deal_update(
                deal=deal.pk, actor=request.user, expected_version=form.cleaned_data["version"], **form.changes()
            )
        except VersionConflict:
            current = visible_deal_or_404(request.user, pk)
            messages.error(
                request,
                _("Someone changed this deal while you were editing it. Your changes were not saved; "
                  "the form now shows the current values."),
            )
            form = DealEditForm(user=request.user, deal=current)
            return render(request, "pipeline/deal_detail.html", _deal_page_context(request, current, form=form), status=409)
        except PipelineError as refusal:
            form.add_error(None, refusal.message)
        else:
            messages.success(request, _("Deal saved."))
            return redirect(deal.get_absolute_url())
    return render(request, "pipeline/deal_detail.html", _deal_page_context(request, deal, form=form), status=status)


@require_http_methods(["GET", "POST"])
def deal_create(request):
    """GET/POST /pipeline/deals/new/ — the full deal form (the board has a quick-add too)."""
    user = request.user
    initial = {}
    if request.method == "GET":
        if request.GET.get("organization", "").isdigit():
            initial["organization"] = request.GET["organization"]
        if request.GET.get("stage", "").isdigit():
            initial["stage"] = request.GET["stage"]
    form = DealCreateForm(request.POST or None, user=user, initial=initial)
    if request.method == "GET" and "stage" not in initial:
        first = form.fields["stage"].queryset.filter(pipeline__is_default=True).first()
        form.initial["stage"] = first.pk if first else None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    organization = data["organization"] or organization_by_name(user, data["new_organization"])
                    deal = services.deal_create(
                        actor=user, organization=organization, title=data["title"], stage=data["stage"], owner=data["owner"],
                        amount=data["amount"], currency=data["currency"], expected_close=data["expected_close"],
                        next_step=data["next_step"] or "", probability=data["probability"],
                        custom=form.custom_values() if form.custom_definitions else None,
                    )
            except PipelineError as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, _("Deal “%(deal)s” created.") % {"deal": deal.title})
                return redirect(deal.get_absolute_url())
    return render(request, "pipeline/deal_form.html", {"nav": "board", "form": form}, status=status)


@require_POST
def deal_snooze_view(request, pk):
    """POST /pipeline/deals/<id>/snooze/ with `until`, `reason` and `version`; `clear` ends the snooze."""
    deal = changeable_deal(request.user, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        return refused(request, message=message, status=400, deal=deal)
    data = form.cleaned_data
    clear = bool(request.POST.get("clear"))
    if not clear and not data.get("until"):
        return refused(request, message=_("Choose until when to snooze the warning."), status=400, deal=deal)
    try:
        services.deal_snooze_rotting(
            deal=deal.pk, actor=request.user, until=None if clear else data["until"],
            reason="" if clear else data["reason"], expected_version=data["version"],
        )
    except PipelineError as refusal:
        return refused(request, message=refusal.message, status=refusal.status_code, deal=deal)
    messages.success(request, _("Rotting warning shown again.") if clear else _("Rotting warning snoozed."))
    return redirect(deal.get_absolute_url())
