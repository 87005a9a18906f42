"""Configuration names in each person's language.

Pipelines, stages, lost reasons and onboarding items are data, named by admins. Each has its
`name` (or an onboarding item's `title`), written in the installation's language
(settings.LANGUAGE_CODE), and `name_translations`, a small {"de": …} of its names in the other
languages Stageflow speaks (an entry for the installation's language is ignored: the name is it).
Everything that shows such a name to a person goes through `localized_name` (their `__str__`
does), so each person reads their own language; where no translation was entered, the name
itself is shown.
"""
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _


def language_codes() -> list[str]:
    return [code for code, _label in settings.LANGUAGES]


def localized_name(obj, language: str | None = None) -> str:
    """`obj`'s name in `language` (default: the active language), else its own name."""
    own = getattr(obj, "name", None)
    if own is None:
        own = getattr(obj, "title", "")
    language = _base(language or translation.get_language() or settings.LANGUAGE_CODE)
    if language == _base(settings.LANGUAGE_CODE):
        # The name itself is in the installation's language: a rename by an admin shows at once.
        return own
    return (getattr(obj, "name_translations", None) or {}).get(language) or own


def _base(language: str) -> str:
    return language.split("-")[0].lower()


class TranslationsInvalid(ValueError):
    pass


def translations_clean(value) -> dict[str, str]:
    """{language code: name} for the configured languages, stripped, empty ones dropped."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise TranslationsInvalid(_("Names in other languages are given as language code and name."))
    codes = language_codes()
    cleaned = {}
    for code, name in value.items():
        if code not in codes:
            raise TranslationsInvalid(
                _("“%(code)s” is not one of the languages used here: %(codes)s.") % {"code": code, "codes": ", ".join(codes)}
            )
        name = " ".join(str(name or "").split())
        if len(name) > 100:
            raise TranslationsInvalid(_("A name may have at most 100 characters."))
        if name:
            cleaned[code] = name
    return cleaned


def translations_validate(value) -> None:
    """Model field validator: the admin's form shows what is wrong with the names."""
    from django.core.exceptions import ValidationError

    try:
        translations_clean(value)
    except TranslationsInvalid as invalid:
        raise ValidationError(str(invalid)) from None


def default_translations(english: str) -> dict[str, str]:
    """A shipped default name (marked with gettext_noop) in every configured language."""
    names = {}
    for code in language_codes():
        with translation.override(code):
            names[code] = translation.gettext(english)
    return names
