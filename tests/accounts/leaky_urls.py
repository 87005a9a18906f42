"""Views that get permissions wrong on purpose, to prove that the permission matrix notices."""
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path

from pipeline.models import Deal
from pipeline.selectors import deal_for_user_or_404


def deal_page(request, pk):
    deal = Deal.objects.get(pk=pk)  # no visibility check, and POST changes without a check
    return HttpResponse(deal.title)


def deal_list(request):
    return HttpResponse(", ".join(Deal.objects.values_list("title", flat=True)))  # everyone's deals


def people(request):
    from django.contrib.auth import get_user_model

    return HttpResponse(", ".join(str(u) for u in get_user_model().objects.all()))  # an owner filter of everyone


def deals_xlsx(request):
    import io

    from openpyxl import Workbook

    book = Workbook()
    for title in Deal.objects.values_list("title", flat=True):
        book.active.append([title])
    out = io.BytesIO()
    book.save(out)
    return HttpResponse(out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@login_not_required
def public_page(request):
    return HttpResponse("anyone")


def careful_deal_page(request, pk):
    deal = deal_for_user_or_404(request.user, pk, change=request.method == "POST")
    return HttpResponse(deal.title)


leaky = (
    [
        path("deals/<int:pk>/", deal_page, name="deal_page"),
        path("deals/", deal_list, name="deal_list"),
        path("public/", public_page, name="public_page"),
        path("people/", people, name="people"),
        path("deals.xlsx", deals_xlsx, name="deals_xlsx"),
        path("careful/<int:pk>/", careful_deal_page, name="careful_deal_page"),
    ],
    "leaky",
)

urlpatterns = [
    path("leaky/", include(leaky)),
    path("accounts/", include("django.contrib.auth.urls")),
]
