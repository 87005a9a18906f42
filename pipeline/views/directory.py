"""Duplicates, merges and a person's data-protection requests: the suggestion list, the merge pages
of organisations and people, a person's data (readable page and JSON download) and its erasure.

Permissions are checked here, in Python, with the selectors; the services (pipeline.merging,
pipeline.privacy) check them again and refuse with a message, which these views show."""
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from .. import duplicates, merging, privacy, selectors
from ..exceptions import PipelineError
from accounts.models import ConfigAction

from ..models import DealContact, DealStatus, EmailKind, MergedKind, Organization, Person, PhoneKind
from .common import safe_next

KINDS = {"organization": MergedKind.ORGANIZATION, "person": MergedKind.PERSON}


def follows_merges(kind: str):
    """A page about an organisation or person (its id as `pk`) that was merged into another one
    leads to the same page of the survivor (GET only; a record that exists but is hidden from
    the user stays a 404)."""
    model = Organization if kind == MergedKind.ORGANIZATION else Person

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except Http404:
                pk = kwargs.get("pk")
                if request.method not in ("GET", "HEAD") or model.objects.filter(pk=pk).exists():
                    raise
                survivor = merging.survivor_of(kind, pk)
                if survivor is None:
                    raise
                match = request.resolver_match
                url = reverse(match.view_name, args=match.args, kwargs={**match.kwargs, "pk": survivor})
                query = request.GET.urlencode()
                return redirect(f"{url}?{query}" if query else url, permanent=False)

        return wrapped

    return decorate


def person_page_url(person: Person) -> str:
    """The person's page, where the installation has one; else their data page."""
    try:
        return person.get_absolute_url()
    except NoReverseMatch:
        return ""


def _with_links(records):
    for record in records:
        record.page_url = record.get_absolute_url() if isinstance(record, Organization) else person_page_url(record)
    return records


# --- Suggestions ----------------------------------------------------------------------------------


@require_safe
def duplicates_list(request):
    kind = "person" if request.GET.get("kind") == "person" else "organization"
    page, suggestions = duplicates.duplicate_suggestions(request.user, kind=kind, page=request.GET.get("page") or 1)
    for suggestion in suggestions:
        _with_links(suggestion.records)
    context = {"nav": "organizations", "kind": kind, "page": page, "suggestions": suggestions}
    return render(request, "pipeline/duplicates.html", context)


# --- Merges -----------------------------------------------------------------------------------


class MergeForm(forms.Form):
    other = forms.IntegerField(
        label=gettext_lazy("Record to merge into this one"), min_value=1,
        error_messages={"required": gettext_lazy("Choose the record to merge into this one.")},
    )


def _merge_page(request, *, kind: str, pk: int):
    user = request.user
    model = Organization if kind == MergedKind.ORGANIZATION else Person
    find = selectors.organization_for_user_or_404 if kind == MergedKind.ORGANIZATION else selectors.person_for_user_or_404
    survivor = find(user, pk)
    refusal = _merge_refusal(user, survivor)
    if refusal:
        raise PermissionDenied(refusal)
    form = MergeForm(request.POST if request.method == "POST" else request.GET if "other" in request.GET else None)
    context = {"nav": "organizations", "kind": kind, "survivor": _with_links([survivor])[0], "form": form}
    other = None
    if form.is_bound and form.is_valid():
        other = find(user, form.cleaned_data["other"])  # 404 when hidden; the service refuses the rest
    if request.method == "POST":
        if other is None:
            return render(request, "pipeline/merge.html", {**context, **_choices(request, survivor)}, status=400)
        try:
            result = merging.records_merge(survivor=survivor, merged=other, actor=user)
        except PipelineError as refusal:  # MergeRefused, or a service's refusal (an invalid stored address)
            back = request.get_full_path()
            return render(request, "pipeline/refused.html", {"message": refusal.message, "back": back}, status=409)
        messages.success(request, _merged_message(result))
        fallback = result.survivor.get_absolute_url() if kind == MergedKind.ORGANIZATION else (
            person_page_url(result.survivor) or reverse("pipeline:duplicates") + "?kind=person"
        )
        return redirect(safe_next(request, fallback))
    if other is None:
        return render(request, "pipeline/merge.html", {**context, **_choices(request, survivor)})
    context["refusal"] = (
        _("A record cannot be merged with itself.") if other.pk == survivor.pk else _merge_refusal(user, other)
    )
    context.update(other=_with_links([other])[0], comparison=_comparison(kind, survivor, other))
    return render(request, "pipeline/merge.html", context)


def _merge_refusal(user, record) -> str:
    """Why the user may not merge this record (the service refuses the same), or ""."""
    if isinstance(record, Person):
        if record.erased_at is not None:
            return _("The personal data of person #%(id)s was erased; an erased person cannot be merged.") % {"id": record.pk}
        if not selectors.can_change_person(user, record):
            return _("You may merge only people you may change, both of them.")
    elif not selectors.can_change_organization(user, record):
        return _("You may merge only organisations you may change, both of them.")
    return ""


def _choices(request, survivor) -> dict:
    """What the merge page offers without a chosen record: the likely duplicates, and a search."""
    q = (request.GET.get("q") or "").strip()[:100]
    found = []
    if q:
        if isinstance(survivor, Organization):
            found = selectors.visible_organizations(request.user).filter(name__icontains=q)
        else:
            found = selectors.visible_persons(request.user).filter(name__icontains=q, erased_at__isnull=True)
        found = _with_links(list(found.exclude(pk=survivor.pk).order_by("name", "pk")[:20]))
    candidates = duplicates.duplicates_of(request.user, survivor)
    for candidate in candidates:
        _with_links(candidate.records)
    return {"candidates": candidates, "q": q, "found": found}


def _text(value) -> str:
    return "" if value in (None, "") else str(value)


def _comparison(kind: str, survivor, other) -> list[tuple[str, str, str]]:
    """(label, kept value, other value) rows for the confirmation."""
    if kind == MergedKind.ORGANIZATION:
        rows = [
            (_("Name"), survivor.name, other.name),
            (_("Domains"), survivor.domains, other.domains),
            (_("Industry"), survivor.industry, other.industry),
            (_("Company size"), survivor.get_company_size_display(), other.get_company_size_display()),
            (_("Country"), survivor.country, other.country),
            (_("City"), survivor.city, other.city),
            (_("Website"), survivor.website, other.website),
            (_("Phone"), survivor.phone, other.phone),
            (_("Owner"), survivor.owner, other.owner),
            (_("Main contact"), survivor.contact_name, other.contact_name),
            (_("Fit score"), survivor.fit_score, other.fit_score),
            (_("Deals"), survivor.deals.count(), other.deals.count()),
            (_("People"), survivor.people.count(), other.people.count()),
        ]
    else:
        rows = [
            (_("Name"), survivor.name, other.name),
            (_("Organisation"), survivor.organization, other.organization),
            (_("Job title"), survivor.job_title, other.job_title),
            (_("E-mail"), ", ".join(e.address for e in survivor.emails.all()), ", ".join(e.address for e in other.emails.all())),
            (_("Phone"), ", ".join(p.number for p in survivor.phones.all()), ", ".join(p.number for p in other.phones.all())),
            (_("Owner"), survivor.owner, other.owner),
            (_("Consent to be contacted"), survivor.get_consent_display(), other.get_consent_display()),
            (_("Deals"), DealContact.objects.filter(person=survivor).count(), DealContact.objects.filter(person=other).count()),
        ]
    return [(label, _text(kept), _text(merged)) for label, kept, merged in rows]


def _merged_message(result: merging.MergeResult) -> str:
    return _("“%(merged)s” was merged into “%(survivor)s”; everything that belonged to it belongs to “%(survivor)s” now.") % {
        "merged": result.merged_name, "survivor": result.survivor,
    }


@require_http_methods(["GET", "POST"])
@follows_merges(MergedKind.ORGANIZATION)
def organization_merge(request, pk):
    return _merge_page(request, kind=MergedKind.ORGANIZATION, pk=pk)


@require_http_methods(["GET", "POST"])
@follows_merges(MergedKind.PERSON)
def person_merge(request, pk):
    return _merge_page(request, kind=MergedKind.PERSON, pk=pk)


# --- Data-protection requests ----------------------------------------------------------------------


def _readable(row: dict) -> dict:
    """A row of the export for the page: its times as datetimes, shown in the reader's format."""
    return {
        key: (parse_datetime(value) or value) if isinstance(value, str) and (key == "at" or key.endswith("_at")) else value
        for key, value in row.items()
    }


def _person_for_data_request(request, pk) -> Person:
    person = selectors.person_for_user_or_404(request.user, pk, queryset=Person.objects.select_related("organization", "owner"))
    if not selectors.can_handle_data_request(request.user, person):
        raise PermissionDenied(_("Only admins and the managers responsible for a person may export or erase their data."))
    return person


@require_safe
@follows_merges(MergedKind.PERSON)
def person_data(request, pk):
    """Everything Stageflow holds about the person, readable (and recorded as an export)."""
    person = _person_for_data_request(request, pk)
    data = privacy.person_export(person=person, actor=request.user, how="page")
    titles = {"activities": _("Activities"), "notes": _("Notes"), "files": _("Files")}
    # The page names what is held; contents (a file's, as base64) are in the JSON download only.
    sections = [
        (titles.get(key, key), [{k: v for k, v in _readable(row).items() if not k.endswith("_base64")} for row in rows])
        for key, rows in data.items() if key not in privacy.EXPORT_SECTIONS
    ]
    context = {
        "nav": "organizations", "person": person, "data": data, "sections": sections, "page_url": person_page_url(person),
        "can_erase": person.erased_at is None, "shown": _readable(data["person"]),
        "exported_at": parse_datetime(data["exported_at"]),
        "emails": [{**e, "kind": EmailKind(e["kind"]).label} for e in data["emails"]],
        "phones": [{**p, "kind": PhoneKind(p["kind"]).label} for p in data["phones"]],
        "deals": [{**d, "status": DealStatus(d["status"]).label} for d in data["deals"]],
        "history": [
            {**_readable(row), "action": ConfigAction(row["action"]).label if row["action"] in ConfigAction.values else row["action"]}
            for row in data["history"]
        ],
    }
    return render(request, "pipeline/person_data.html", context)


@require_safe
@follows_merges(MergedKind.PERSON)
def person_data_json(request, pk):
    """The same as a JSON file to download (and recorded as an export)."""
    person = _person_for_data_request(request, pk)
    data = privacy.person_export(person=person, actor=request.user, how="json")
    response = JsonResponse(data, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="stageflow-person-{person.pk}.json"'
    return response


@require_http_methods(["GET", "POST"])
def person_erase(request, pk):
    person = _person_for_data_request(request, pk)
    if person.erased_at is not None:
        return render(
            request, "pipeline/refused.html",
            {"message": _("This person's data was erased already."), "back": reverse("pipeline:person_data", args=[person.pk])},
            status=409 if request.method == "POST" else 200,
        )
    context = {"nav": "organizations", "person": person, "deal_count": DealContact.objects.filter(person=person).count()}
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            context["error"] = _("Confirm that the request was checked before the data is erased.")
            return render(request, "pipeline/person_erase.html", context, status=400)
        try:
            erased = privacy.person_erase(person=person, actor=request.user)
        except PipelineError as refusal:
            return render(request, "pipeline/refused.html", {"message": refusal.message, "back": request.path}, status=409)
        messages.success(request, _("The personal data of person #%(id)s was erased.") % {"id": erased.pk})
        fallback = erased.organization.get_absolute_url() if erased.organization_id else reverse("pipeline:duplicates") + "?kind=person"
        return redirect(person_page_url(erased) or fallback)
    return render(request, "pipeline/person_erase.html", context)
