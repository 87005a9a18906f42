"""The lead list's old address, the lead page and form, and the lead lookup of the deal form."""
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from .. import extensions, selectors
from .. import leads as lead_services
from ..forms import LeadForm, lead_label
from ..models import Deal, DealStatus, Lead


def lead_list(request):
    """The lead list lives in the qualification app (fit score, filters, sorting by fit); an old
    link or bookmark to /pipeline/leads/ arrives there with its search."""
    target = reverse("qualification:lead_list")
    q = (request.GET.get("q") or "").strip()[:100]
    return redirect(f"{target}?{urlencode({'q': q})}" if q else target)


def _visible_lead_or_404(user, pk: int) -> Lead:
    return selectors.lead_for_user_or_404(user, pk, queryset=Lead.objects.select_related("owner"))


@require_safe
def lead_detail(request, pk):
    user = request.user
    lead = _visible_lead_or_404(user, pk)
    deals = (
        selectors.visible_deals(user).filter(lead=lead).select_related("stage", "owner", "lost_reason")
        .order_by("status", "-stage_entered_at", "-pk")
    )
    can_change = selectors.can_change_lead(user, lead)
    context = {
        "nav": "leads", "lead": lead, "deals": deals, "can_change": can_change,
        "is_customer": Deal.objects.filter(lead=lead, status=DealStatus.WON).exists(),
        "panels": [
            html for panel in extensions.lead_panels() if (html := panel(request=request, lead=lead, can_change=can_change))
        ],
    }
    return render(request, "pipeline/lead_detail.html", context)


@require_http_methods(["GET", "POST"])
def lead_create(request):
    form = LeadForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            lead = lead_services.lead_create(actor=request.user, **form.cleaned_data)
            messages.success(request, _("Lead “%(lead)s” created.") % {"lead": lead.name})
            return redirect(lead.get_absolute_url())
        return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form}, status=400)
    return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form})


@require_http_methods(["GET", "POST"])
def lead_edit(request, pk):
    lead = selectors.lead_for_user_or_404(
        request.user, pk, change=True, queryset=Lead.objects.select_related("owner")
    )
    form = LeadForm(request.POST or None, instance=lead, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            lead_services.lead_update(lead=lead, actor=request.user, **{f: form.cleaned_data[f] for f in form.changed_data})
            messages.success(request, _("Lead saved."))
            return redirect(lead.get_absolute_url())
        return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form, "lead": lead}, status=400)
    return render(request, "pipeline/lead_form.html", {"nav": "leads", "form": form, "lead": lead})


@require_GET
def lead_lookup(request):
    """GET /pipeline/leads/lookup/?q=… — suggestions for a lead field (LeadLookupInput): the
    options of its datalist. The field sends its own value under its name when `q` is absent."""
    text = request.GET.get("q")
    if text is None:
        text = next(iter(request.GET.values()), "")
    leads = selectors.lead_suggestions(request.user, text[:100])
    for lead in leads:
        lead.label = lead_label(lead)
    return render(request, "pipeline/_lead_options.html", {"leads": leads})
