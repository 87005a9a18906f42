"""My activities, and the activity, note, onboarding and upsell actions of the deal, organisation
and person pages.

Every view finds the object through activities.selectors (an activity on a deal the user may
not see answers 404, one they may see but not change 403), validates with a form, calls one
service and redirects back, or for an HTMX request renders the fragment it replaces.
"""
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from pipeline import selectors as pipeline_selectors
from pipeline.exceptions import PipelineError
from pipeline.models import DealStatus

from . import selectors, services
from .forms import ActivityForm, NoteForm, UpsellForm
from .models import Activity


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _is_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _visible_deal_or_404(user, pk):
    deal = pipeline_selectors.visible_deals(user).select_related("organization", "pipeline", "stage").filter(pk=pk).first()
    if deal is None:
        raise Http404(_("No such deal."))
    return deal


def _changeable_deal(user, pk):
    deal = _visible_deal_or_404(user, pk)
    if not pipeline_selectors.can_change_deal(user, deal):
        raise PermissionDenied(_("You may look at this deal but not change it."))
    return deal


def _activity_or_404(user, pk, *, change: bool = False) -> Activity:
    activity = selectors.visible_activities(user).select_related("deal", "organization", "person", "owner").filter(pk=pk).first()
    if activity is None:
        raise Http404(_("No such activity."))
    if change and not selectors.can_change_activity(user, activity):
        raise PermissionDenied(_("You may look at this activity but not change it."))
    return activity


# --- The deal page's panel (rendered by pipeline's deal page through pipeline.extensions) ----


def deal_panel_context(request, deal, can_change, *, activity_form=None, note_form=None) -> dict:
    tasks = list(deal.onboarding_tasks.select_related("done_by", "item")) if deal.status == DealStatus.WON else []
    return {
        "deal": deal,
        "can_change": can_change,
        "open_activities": selectors.deal_open_activities(deal),
        "activity_form": activity_form or (ActivityForm(user=request.user) if can_change else None),
        "note_form": note_form or (NoteForm() if can_change else None),
        "onboarding_tasks": tasks,
        "onboarding_done": sum(1 for t in tasks if t.done_at),
        "onboarding_total": len(tasks),
        "upsell_form": _upsell_form(request, deal),
    }


def organization_panel_context(request, organization, can_change) -> dict:
    """The organisation page's activities and its forms; its notes are in the page's timeline."""
    return {
        "subject": organization,
        "can_change": can_change,
        "open_activities": selectors.organization_open_activities(request.user, organization),
        "activity_action": reverse("activities:organization_create", args=[organization.pk]),
        "note_action": reverse("activities:organization_note_create", args=[organization.pk]),
        "empty": _("Nothing planned with this organisation."),
        "activity_form": ActivityForm(user=request.user) if can_change else None,
        "note_form": NoteForm() if can_change else None,
    }


def person_panel_context(request, person, can_change) -> dict:
    """The person page's activities and its forms; their notes are in the page's timeline."""
    return {
        "subject": person,
        "can_change": can_change,
        "open_activities": selectors.person_open_activities(request.user, person),
        "activity_action": reverse("activities:person_create", args=[person.pk]),
        "note_action": reverse("activities:person_note_create", args=[person.pk]),
        "empty": _("Nothing planned with this person."),
        "activity_form": ActivityForm(user=request.user) if can_change else None,
        "note_form": NoteForm() if can_change else None,
    }


def _visible_organization_or_404(user, pk):
    organization = pipeline_selectors.visible_organizations(user).filter(pk=pk).first()
    if organization is None:
        raise Http404(_("No such lead."))
    return organization


def _changeable_organization(user, pk):
    organization = _visible_organization_or_404(user, pk)
    if not pipeline_selectors.can_change_organization(user, organization):
        raise PermissionDenied(_("You may look at this lead but not change it."))
    return organization


def _changeable_person(user, pk):
    return pipeline_selectors.person_for_user_or_404(user, pk, change=True)


def _subject(request, deal_pk, organization_pk, person_pk):
    """The deal, organisation or person a new activity or note is about, if the user may change it."""
    if deal_pk:
        return {"deal": _changeable_deal(request.user, deal_pk)}
    if organization_pk:
        return {"organization": _changeable_organization(request.user, organization_pk)}
    return {"person": _changeable_person(request.user, person_pk)}


def _upsell_form(request, deal):
    if deal.status != DealStatus.WON:
        return None
    form = UpsellForm(user=request.user, initial={"pipeline": deal.pipeline_id})
    form.fields["title"].widget.attrs["placeholder"] = _("Upsell: %(deal)s") % {"deal": deal.title}
    return form


# --- My activities ---------------------------------------------------------------------------


def my_activities(request):
    """GET /activities/ — the signed-in user's overdue, today's and upcoming activities."""
    data = selectors.my_activities(request.user)
    return render(request, "activities/my_activities.html", {"nav": "activities", "data": data})


# --- Activities ------------------------------------------------------------------------------


@require_POST
def activity_create(request, deal_pk=None, organization_pk=None, person_pk=None):
    """POST /activities/deals/<id>/new/, /activities/organizations/<id>/new/ or
    /activities/people/<id>/new/ — plan an activity."""
    subject = _subject(request, deal_pk, organization_pk, person_pk)
    target = next(iter(subject.values()))
    form = ActivityForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.activity_fields()
        try:
            services.activity_create(
                actor=request.user, kind=data["kind"], title=data["title"], due_at=data["due_at"],
                owner=data["owner"] or request.user, note=data["note"], custom=data.get("custom"), **subject,
            )
        except PipelineError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("Activity planned."))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(_safe_next(request, target.get_absolute_url() + "#activities"))


@require_http_methods(["GET", "POST"])
def activity_edit(request, pk):
    """GET/POST /activities/<id>/edit/"""
    activity = _activity_or_404(request.user, pk, change=True)
    initial = {"kind": activity.kind, "title": activity.title, "due_at": activity.due_at, "owner": activity.owner_id, "note": activity.note}
    form = ActivityForm(request.POST or None, user=request.user, current_owner=activity.owner, initial=initial,
                        activity=activity)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.activity_fields()
            data["owner"] = data["owner"] or activity.owner
            try:
                services.activity_update(activity=activity, actor=request.user, **data)
            except PipelineError as refusal:
                form.add_error(None, refusal.message)
            else:
                messages.success(request, _("Activity saved."))
                return redirect(_safe_next(request, activity.get_absolute_url()))
    return render(request, "activities/activity_form.html", {"nav": "activities", "form": form, "activity": activity, "next": _safe_next(request, "")}, status=status)


def _after_toggle(request, activity, message):
    if _is_partial(request):
        activity = Activity.objects.select_related("deal", "organization", "person", "deal__organization", "owner").get(pk=activity.pk)
        return render(request, "activities/_activity_row.html", {"activity": activity, "toast": message, "next": _safe_next(request, "")})
    messages.success(request, message)
    return redirect(_safe_next(request, activity.get_absolute_url()))


@require_POST
def activity_done(request, pk):
    """POST /activities/<id>/done/ — one click; HTMX swaps the row, without JS it redirects back."""
    activity = _activity_or_404(request.user, pk, change=True)
    activity = services.activity_complete(activity=activity, actor=request.user)
    return _after_toggle(request, activity, _("“%(title)s” done.") % {"title": activity.title})


@require_POST
def activity_reopen(request, pk):
    activity = _activity_or_404(request.user, pk, change=True)
    activity = services.activity_reopen(activity=activity, actor=request.user)
    return _after_toggle(request, activity, _("“%(title)s” is open again.") % {"title": activity.title})


# --- Notes -----------------------------------------------------------------------------------


@require_POST
def note_create(request, deal_pk=None, organization_pk=None, person_pk=None):
    """POST /activities/deals/<id>/notes/, /activities/organizations/<id>/notes/ or
    /activities/people/<id>/notes/ — add a note; it shows in the page's timeline."""
    subject = _subject(request, deal_pk, organization_pk, person_pk)
    target = next(iter(subject.values()))
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_create(actor=request.user, body=form.cleaned_data["body"], **subject)
        except PipelineError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("Note added."))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect(target.get_absolute_url() + ("#history-title" if "deal" in subject else "#timeline"))


# --- Onboarding and upsell -------------------------------------------------------------------


@require_POST
def onboarding_toggle(request, pk):
    """POST /activities/onboarding/<task id>/ with `done` = 1 or 0."""
    task = selectors.visible_onboarding_tasks(request.user).select_related("deal").filter(pk=pk).first()
    if task is None:
        raise Http404(_("No such checklist item."))
    deal = task.deal
    if not pipeline_selectors.can_change_deal(request.user, deal):
        raise PermissionDenied(_("You may look at this deal but not change it."))
    done = request.POST.get("done") == "1"
    services.onboarding_task_set_done(task=task, actor=request.user, done=done)
    deal.refresh_from_db()
    if _is_partial(request):
        context = deal_panel_context(request, deal, True)
        return render(request, "activities/_deal_panel.html#onboarding", context)
    if deal.retention_done_at:
        messages.success(request, _("Onboarding complete. The deal leaves the board."))
    return redirect(deal.get_absolute_url() + "#onboarding")


@require_POST
def upsell_create(request, deal_pk):
    """POST /activities/deals/<id>/upsell/ — a new deal for the same customer in a chosen pipeline.
    Whoever may work the customer's deal starts the upsell; teammates who only see it may not."""
    deal = pipeline_selectors.deal_for_user_or_404(request.user, deal_pk, change=True)
    form = UpsellForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(deal.get_absolute_url())
    try:
        new = services.upsell_create(
            actor=request.user, deal=deal, pipeline=form.cleaned_data["pipeline"], title=form.cleaned_data["title"]
        )
    except PipelineError as refusal:
        messages.error(request, refusal.message)
        return redirect(deal.get_absolute_url())
    messages.success(request, _("Upsell deal “%(deal)s” created.") % {"deal": new.title})
    return redirect(new.get_absolute_url())
