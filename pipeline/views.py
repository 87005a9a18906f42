from django.http import HttpResponse


def board(request):
    return HttpResponse("board")


def deal_detail(request, pk):
    return HttpResponse("deal")


def deal_move_view(request, pk):
    return HttpResponse("move")


def lead_detail(request, pk):
    return HttpResponse("lead")
