"""The personal API token page: a user creates and revokes their own tokens."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .forms import TokenCreateForm
from .models import ApiToken


@require_http_methods(["GET", "POST"])
def token_list(request):
    new_key = None
    if request.method == "POST":
        form = TokenCreateForm(request.POST)
        if form.is_valid():
            token, new_key = ApiToken.issue(user=request.user, name=form.cleaned_data["name"])
            form = TokenCreateForm()
    else:
        form = TokenCreateForm()
    tokens = ApiToken.objects.filter(user=request.user)
    response = render(request, "api/tokens.html", {"form": form, "tokens": tokens, "new_key": new_key, "nav": "tokens"})
    if new_key:
        # The key is on this page only: never cache it anywhere on the way.
        response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.revoke()
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("api:tokens")
