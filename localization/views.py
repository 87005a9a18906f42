from django.contrib.auth.decorators import login_not_required
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language


@login_not_required
@require_POST
def set_language(request):
    """Django's set_language (cookie + redirect to `next`), and for a signed-in user the choice
    is saved on the account so it follows them to other devices."""
    response = django_set_language(request)
    lang = request.POST.get("language", "")
    user = request.user
    if user.is_authenticated and lang and check_for_language(lang) and hasattr(user, "language"):
        if user.language != lang:
            user.language = lang
            user.save(update_fields=["language"])
    return response
