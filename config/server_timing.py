"""The `Server-Timing` header: how long the app took to answer, for the browser's developer tools
and Resource Timing (tests/browser/test_board_speed.py reads it to tell the app's time from the
network's and the page's). On when settings.SERVER_TIMING is true (by default with DEBUG): a
public server does not tell strangers how long its pages take."""
import time

from django.conf import settings


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.SERVER_TIMING:
            return self.get_response(request)
        start = time.perf_counter()
        response = self.get_response(request)
        took = (time.perf_counter() - start) * 1000
        response.headers["Server-Timing"] = f"app;dur={took:.1f}"
        return response
