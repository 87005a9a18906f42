"""The people list, the person page and the person forms, and the person lookup of person fields.

A person's e-mail addresses and phone numbers are rows of two formsets beside the person's form.
"Add another" is a submit button (it works without JavaScript): the form comes back with one more
empty row and nothing is saved. Only pipeline.people writes people; its refusals (an address that
is not one, an erased person) come back next to the row they are about.
"""
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from .. import address_book, custom_fields, extensions, selectors
from .. import people as people_services
from ..exceptions import PipelineError
from ..forms import EmailFormSet, PeopleFilterForm, PersonForm, PhoneFormSet, person_label
from ..models import MergedKind, Person
from .common import is_partial, varies_with_htmx
from .directory import follows_merges

PAGE_SIZE = 50
ROW_SETS = {"emails": EmailFormSet, "phones": PhoneFormSet}


@require_safe
def person_list(request):
    """GET /pipeline/people/ — the people the user may see, searched by name, e-mail or phone and
    filtered by organisation, 50 a page."""
    form = PeopleFilterForm(request.GET or None, user=request.user)
    filters = form.filters() if form.is_bound else {"q": "", "organization": None}
    people = address_book.person_list(request.user, **filters)
    page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "nav": "people", "form": form, "page": page, "query": query.urlencode(),
        "filtered": bool(filters["q"] or filters["organization"]), "organization": filters["organization"],
    }
    template = "pipeline/person_list.html"
    if is_partial(request) and not request.htmx.boosted:
        template += "#results"
    return varies_with_htmx(render(request, template, context))



def _person_or_404(user, pk, *, change: bool = False) -> Person:
    return selectors.person_for_user_or_404(
        user, pk, change=change, queryset=Person.objects.select_related("organization", "owner"),
    )


@require_safe
@follows_merges(MergedKind.PERSON)
def person_detail(request, pk):
    """GET /pipeline/people/<id>/ — the person: organisation, job title, e-mail addresses and phone
    numbers with their kinds, language, consent, owner, the deals they are on with their roles,
    activities and one timeline. `?timeline=N` shows the newest N entries (an HTMX request gets
    only the timeline)."""
    user = request.user
    person = _person_or_404(user, pk)
    timeline = address_book.person_timeline(user, person, size=address_book.timeline_size(request.GET.get("timeline")))
    if is_partial(request) and "timeline" in request.GET:
        return varies_with_htmx(render(request, "pipeline/_record_timeline.html", {"timeline": timeline, "subject": person}))
    can_change = selectors.can_change_person(user, person)
    organization = person.organization
    custom_fields.shown([person], "person")
    context = {
        "nav": "people", "person": person, "can_change": can_change,
        "can_handle_data": selectors.can_handle_data_request(request.user, person),
        "emails": list(person.emails.all()), "phones": list(person.phones.all()),
        "is_main_contact": organization is not None and organization.main_contact_id == person.pk,
        "deal_contacts": address_book.person_deal_contacts(user, person),
        "timeline": timeline,
        "panels": [
            html for panel in extensions.person_panels() if (html := panel(request=request, person=person, can_change=can_change))
        ],
    }
    return varies_with_htmx(render(request, "pipeline/person_detail.html", context))


# --- The person form --------------------------------------------------------------------------------


def _row_sets(request, *, person: Person | None):
    """The e-mail and phone formsets: bound to the POST (with one more empty row for the set whose
    "Add another" was pressed), or filled from the person's rows."""
    if request.method == "POST":
        data = request.POST.copy()
        more = request.POST.get("more")
        if more in ROW_SETS:
            key = f"{more}-TOTAL_FORMS"
            total = int(data.get(key) or 0) if (data.get(key) or "").isdigit() else 0
            data[key] = str(min(total + 1, 20))
        return {name: formset(data, prefix=name) for name, formset in ROW_SETS.items()}
    initial = {"emails": [], "phones": []}
    if person is not None:
        initial["emails"] = [{"address": e.address, "kind": e.kind} for e in person.emails.all()]
        initial["phones"] = [{"number": p.number, "kind": p.kind} for p in person.phones.all()]
    return {name: formset(initial=initial[name], prefix=name) for name, formset in ROW_SETS.items()}


def _row_values(row_sets) -> dict:
    """The filled rows, in order, as pipeline.people takes them (empty rows are dropped)."""
    emails = [
        people_services.EmailValue(row.cleaned_data["address"].strip(), row.cleaned_data["kind"])
        for row in row_sets["emails"] if (row.cleaned_data.get("address") or "").strip()
    ]
    phones = [
        people_services.PhoneValue(row.cleaned_data["number"].strip(), row.cleaned_data["kind"])
        for row in row_sets["phones"] if (row.cleaned_data.get("number") or "").strip()
    ]
    return {"emails": emails, "phones": phones}


def _refusal_place(refusal: PipelineError, form, row_sets) -> None:
    """Put the service's refusal next to the row it names (its message quotes the value), else on
    top of the form."""
    message = str(refusal.message)
    for name, field in (("emails", "address"), ("phones", "number")):
        for row in row_sets[name]:
            value = (row.cleaned_data.get(field) or "").strip()
            if value and f"“{value}”" in message:
                row.add_error(field, message)
                return
    form.add_error(None, message)


def _person_form_page(request, *, person: Person | None, initial: dict, back: str):
    user = request.user
    data = request.POST if request.method == "POST" else None
    form = PersonForm(data, user=user, person=person, initial=initial)
    row_sets = _row_sets(request, person=person)
    context = {"nav": "people", "form": form, "row_sets": row_sets, "person": person, "back": back}
    if request.method == "GET":
        return render(request, "pipeline/person_form.html", context)
    if request.POST.get("more") in ROW_SETS:
        # Only one more row: nothing is checked or saved yet, so the form shows what was typed
        # (as its initial values) without errors.
        typed = {name: request.POST.get(name, "") for name in PersonForm.base_fields}
        context["form"] = PersonForm(user=user, person=person, initial=typed)
        context["adding_row"] = request.POST["more"]
        return render(request, "pipeline/person_form.html", context)
    if form.is_valid() and all(rows.is_valid() for rows in row_sets.values()):
        try:
            if person is None:
                saved = people_services.person_create(actor=user, **_row_values(row_sets), **form.person_fields())
                messages.success(request, _("“%(name)s” added.") % {"name": saved.name})
            else:
                saved = people_services.person_update(person=person, actor=user, **_row_values(row_sets), **form.person_fields())
                messages.success(request, _("“%(name)s” saved.") % {"name": saved.name})
        except PipelineError as refusal:
            _refusal_place(refusal, form, row_sets)
        else:
            return redirect(saved.get_absolute_url())
    return render(request, "pipeline/person_form.html", context, status=400)


@require_http_methods(["GET", "POST"])
def person_create(request):
    """GET/POST /pipeline/people/new/ (`?organization=<id>`: at that organisation)."""
    initial, back = {}, reverse("pipeline:person_list")
    organization_id = request.GET.get("organization", "")
    if organization_id.isdigit():
        organization = selectors.visible_organizations(request.user).filter(pk=organization_id).first()
        if organization is not None:
            initial["organization"] = organization
            back = organization.get_absolute_url()
    return _person_form_page(request, person=None, initial=initial, back=back)


@require_http_methods(["GET", "POST"])
def person_edit(request, pk):
    """GET/POST /pipeline/people/<id>/edit/ — for those who may change the person (403 for those
    who only see them, 404 for everyone else)."""
    person = _person_or_404(request.user, pk, change=True)
    return _person_form_page(request, person=person, initial=PersonForm.initial_for(person), back=person.get_absolute_url())


@require_GET
def person_lookup(request):
    """GET /pipeline/people/lookup/?q=… — suggestions for a person field (PersonLookupInput): the
    options of its datalist. The field sends its own value under its name when `q` is absent."""
    text = request.GET.get("q")
    if text is None:
        text = next(iter(request.GET.values()), "")
    people = address_book.person_suggestions(request.user, text[:100])
    for person in people:
        person.label = person_label(person)
    return render(request, "pipeline/_person_options.html", {"people": people})
