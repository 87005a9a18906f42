from django.core.paginator import Paginator
from django.shortcuts import render

from .forms import OrganizationFilterForm
from .selectors import organization_industries, organization_list, organization_owners

PAGE_SIZE = 50


def lead_list_view(request):
    """The lead list ("Leads" in the top bar): the leads the user may see, filtered and sorted by
    their fit to the ideal customer profile."""
    form = OrganizationFilterForm(request.GET, industries=organization_industries(request.user), owners=organization_owners(request.user))
    organizations = organization_list(user=request.user, **form.filters())
    page = Paginator(organizations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    filtered = any(v for k, v in query.items() if k != "sort")
    query_without_sort = query.copy()
    query_without_sort.pop("sort", None)
    context = {
        "form": form, "page": page, "query": query.urlencode(), "query_without_sort": query_without_sort.urlencode(),
        "filtered": filtered, "nav": "leads",
    }
    template = "qualification/organization_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(request, template, context)
