"""The lead list's old address, the lead page and form, and the lead lookup of the deal form."""
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from .. import extensions, selectors
from .. import organizations as organization_services
from ..forms import OrganizationForm, organization_label
from ..models import Deal, DealStatus, MergedKind, Organization
from .directory import follows_merges


def organization_list(request):
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


@require_safe
@follows_merges(MergedKind.ORGANIZATION)
def organization_detail(request, pk):
    user = request.user
    organization = _visible_organization_or_404(user, pk)
    deals = (
        selectors.visible_deals(user).filter(organization=organization).select_related("stage", "owner", "lost_reason")
        .order_by("status", "-stage_entered_at", "-pk")
    )
    can_change = selectors.can_change_organization(user, organization)
    context = {
        "nav": "organizations", "organization": organization, "deals": deals, "can_change": can_change,
        "is_customer": Deal.objects.filter(organization=organization, status=DealStatus.WON).exists(),
        "panels": [
            html for panel in extensions.organization_panels() if (html := panel(request=request, organization=organization, can_change=can_change))
        ],
    }
    return render(request, "pipeline/organization_detail.html", context)


@require_http_methods(["GET", "POST"])
def organization_create(request):
    form = OrganizationForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            organization = organization_services.organization_create(actor=request.user, **form.cleaned_data)
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
            organization_services.organization_update(organization=organization, actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data})
            messages.success(request, _("Lead saved."))
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
