"""Rate limiting per API token (and per signed-in user for session clients)."""
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken


class ApiRateThrottle(SimpleRateThrottle):
    """One bucket per token, so that a runaway integration does not starve its owner's other
    tokens or the web session; session clients get one bucket per user, anonymous ones per IP."""

    scope = "api"

    def get_rate(self):
        # Read at request time (not class creation) so a deployment or a test can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
