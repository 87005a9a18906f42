from django.conf import settings
from django.utils import translation
from django.utils.translation import check_for_language


def user_language(user) -> str:
    lang = getattr(user, "language", "") if getattr(user, "is_authenticated", False) else ""
    return lang if lang and check_for_language(lang) else ""


class UserLanguageMiddleware:
    """A signed-in user's saved language (chosen in the user menu) wins over the browser's, on
    every device they sign in on; the language cookie follows it. Without a saved language,
    LocaleMiddleware's choice (cookie, then Accept-Language) stands."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        lang = user_language(getattr(request, "user", None))
        if lang and lang != getattr(request, "LANGUAGE_CODE", None):
            translation.activate(lang)
            request.LANGUAGE_CODE = lang
        response = self.get_response(request)
        if lang and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != lang:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, lang,
                max_age=settings.LANGUAGE_COOKIE_AGE, path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN, secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY, samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
