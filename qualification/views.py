from django.core.paginator import Paginator
from django.shortcuts import render

from .forms import LeadFilterForm
from .selectors import lead_industries, lead_list

PAGE_SIZE = 50


def lead_list_view(request):
    """Leads the user may see, filtered and sorted by their fit to the ideal customer profile."""
    form = LeadFilterForm(request.GET, industries=lead_industries(request.user))
    leads = lead_list(user=request.user, **form.filters())
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "nav": "qualification"}
    template = "qualification/lead_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)
