from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from .selectors import deal_for_user_or_404, lead_for_user_or_404


def board(request):
    return HttpResponse("board")


@require_GET
def deal_detail(request, pk):
    deal_for_user_or_404(request.user, pk)
    return HttpResponse("deal")


@require_POST
def deal_move_view(request, pk):
    deal_for_user_or_404(request.user, pk, change=True)
    return HttpResponse("move")


@require_GET
def lead_detail(request, pk):
    lead_for_user_or_404(request.user, pk)
    return HttpResponse("lead")
