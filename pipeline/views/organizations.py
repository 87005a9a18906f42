"""The organisations list, the organisation page and form, the lead list's old address, and the
organisation lookup of organisation fields."""
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from .. import address_book, custom_fields, extensions, selectors
from .. import organizations as organization_services
from ..forms import OrganizationFilterForm, OrganizationForm, organization_label
from ..models import MergedKind, Organization
from .common import is_partial, varies_with_htmx
from .directory import follows_merges

PAGE_SIZE = 50


@require_safe
def organization_list(request):
    """GET /pipeline/organizations/ — every organisation the user may see, customers and prospects,
    searched by name, domain or city, 50 a page. (The lead list, /qualification/leads/, ranks the
    prospects by their fit to the ideal customer profile.)"""
    form = OrganizationFilterForm(request.GET or None, kinds=address_book.OrganizationKind.CHOICES)
    filters = form.filters() if form.is_bound else {"q": "", "kind": ""}
    organizations = address_book.organization_list(request.user, **filters)
    page = Paginator(organizations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"nav": "organizations", "form": form, "page": page, "query": query.urlencode(),
               "filtered": bool(filters["q"] or filters["kind"])}
    template = "pipeline/organization_list.html"
    if is_partial(request) and not request.htmx.boosted:
        template += "#results"
    return varies_with_htmx(render(request, template, context))



def lead_list_moved(request):
    """The lead list lives in the qualification app (fit score, filters, sorting by fit); an old
    link or bookmark to /pipeline/leads/ arrives there with its search."""
    target = reverse("qualification:lead_list")
    q = (request.GET.get("q") or "").strip()[:100]
    return redirect(f"{target}?{urlencode({'q': q})}" if q else target)


@require_safe
@follows_merges(MergedKind.ORGANIZATION)
def organization_moved(request, pk):
    """A lead's page before leads became organisations: its organisation's page."""
    organization = _visible_organization_or_404(request.user, pk)
    return redirect(organization.get_absolute_url(), permanent=True)


def _visible_organization_or_404(user, pk: int) -> Organization:
    return selectors.organization_for_user_or_404(user, pk, queryset=Organization.objects.select_related("owner"))


def _panels(request, organization, can_change, place: str) -> list[str]:
    return [
        html for panel in extensions.organization_panels(place)
        if (html := panel(request=request, organization=organization, can_change=can_change))
    ]


@require_safe
@follows_merges(MergedKind.ORGANIZATION)
def organization_detail(request, pk):
    """GET /pipeline/organizations/<id>/ — the organisation: its details and fit, its deals (open,
    won, lost), its people with their roles on its deals, activities, and one timeline. `?timeline=N`
    shows the newest N entries (an HTMX request gets only the timeline)."""
    user = request.user
    organization = selectors.organization_for_user_or_404(
        user, pk, queryset=Organization.objects.select_related("owner", "main_contact"),
    )
    timeline = address_book.organization_timeline(user, organization, size=address_book.timeline_size(request.GET.get("timeline")))
    custom_fields.shown([organization], "organization")
    if is_partial(request) and "timeline" in request.GET:
        return varies_with_htmx(render(request, "pipeline/_record_timeline.html", {"timeline": timeline, "subject": organization}))
    can_change = selectors.can_change_organization(user, organization)
    people, people_count = address_book.organization_people(user, organization)
    context = {
        "nav": "organizations", "organization": organization, "can_change": can_change,
        "is_customer": address_book.is_customer(organization),
        "deal_groups": address_book.organization_deal_groups(user, organization),
        "people": people, "people_count": people_count,
        "timeline": timeline,
        "details_panels": _panels(request, organization, can_change, "details"),
        "panels": _panels(request, organization, can_change, "main"),
    }
    return varies_with_htmx(render(request, "pipeline/organization_detail.html", context))


@require_http_methods(["GET", "POST"])
def organization_create(request):
    form = OrganizationForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            organization = organization_services.organization_create(actor=request.user, **form.organization_fields())
            messages.success(request, _("Organisation “%(name)s” created.") % {"name": organization.name})
            return redirect(organization.get_absolute_url())
        return render(request, "pipeline/organization_form.html", {"nav": "organizations", "form": form}, status=400)
    return render(request, "pipeline/organization_form.html", {"nav": "organizations", "form": form})


@require_http_methods(["GET", "POST"])
def organization_edit(request, pk):
    organization = selectors.organization_for_user_or_404(
        request.user, pk, change=True, queryset=Organization.objects.select_related("owner")
    )
    form = OrganizationForm(request.POST or None, instance=organization, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            organization_services.organization_update(
                organization=organization, actor=request.user, **form.organization_fields(changed_only=True)
            )
            messages.success(request, _("Organisation saved."))
            return redirect(organization.get_absolute_url())
        return render(request, "pipeline/organization_form.html", {"nav": "organizations", "form": form, "organization": organization}, status=400)
    return render(request, "pipeline/organization_form.html", {"nav": "organizations", "form": form, "organization": organization})


@require_GET
def organization_lookup(request):
    """GET /pipeline/leads/lookup/?q=… — suggestions for a lead field (LeadLookupInput): the
    options of its datalist. The field sends its own value under its name when `q` is absent."""
    text = request.GET.get("q")
    if text is None:
        text = next(iter(request.GET.values()), "")
    organizations = selectors.organization_suggestions(request.user, text[:100])
    for organization in organizations:
        organization.label = organization_label(organization)
    return render(request, "pipeline/_organization_options.html", {"organizations": organizations})
