"""Sign-in redirects that HTMX can follow."""
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import resolve_url


class HtmxLoginRedirectMiddleware:
    """When a session has expired, an HTMX request (a drag on the board, "load more") would follow
    the redirect to the sign-in page and swap that page into a column. Instead, answer with
    `HX-Redirect`, so that the browser goes to the sign-in page as a whole and comes back to the
    page the person was on (HX-Current-URL), not to the partial's URL.

    Sits above LoginRequiredMiddleware in MIDDLEWARE, so it sees that middleware's redirect.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or response.status_code not in (301, 302, 303, 307, 308):
            return response
        login_path = resolve_url(settings.LOGIN_URL)
        location = response.get("Location", "")
        if urlsplit(location).path != login_path:
            return response
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.path:
            back_to = current.path + (f"?{current.query}" if current.query else "")
        else:
            back_to = request.get_full_path()
        response.status_code = 204
        response["HX-Redirect"] = f"{login_path}?{urlencode({REDIRECT_FIELD_NAME: back_to})}"
        del response["Location"]
        return response
