"""The customer's side: the offer behind an unguessable link, with nothing else of the CRM.

No account is needed (login_not_required). Every request counts against a per-address and a
per-link limit. The pages are rendered in the offer's language, are never cached, never indexed,
and send no Referer to other sites (the token is in the URL).
"""
import hashlib

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from pipeline.exceptions import PipelineError

from . import services
from .documents import proposal_canonical, proposal_load, sha256_text
from .exceptions import LinkUnavailable
from .forms import AcceptForm, DeclineForm
from .models import VersionStatus
from .ratelimit import public_request_allowed
from .views import document_html, pdf_response


def _client_ip(request) -> str:
    # REMOTE_ADDR only: a forwarded header is whatever the client wants it to be unless a trusted
    # proxy sets it, and the proxy in front of Stageflow is expected to set REMOTE_ADDR properly.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _private(response):
    response["Cache-Control"] = "no-store, private"
    # same-origin, not no-referrer: the token must not leak to other sites, but a browser that
    # sends no Referer on our own form posts sends "Origin: null", which CSRF rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _limited(request, token: str):
    key = hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]
    if public_request_allowed(ip=_client_ip(request), token_key=key):
        return None
    return _private(render(request, "offers/public/message.html", {
        "heading": _("Too many requests"),
        "text": _("Please wait a few minutes and try again."),
    }, status=429))


def _unavailable(request, version, error: LinkUnavailable):
    language = version.language if version is not None else None
    with translation.override(language or translation.get_language()):
        context = {"heading": _("This offer is not available"), "text": str(error.message), "version": None}
        if version is not None and error.code == "answered":
            context["response"] = version.response
            context["heading"] = (
                _("Thank you, this offer is accepted") if version.status == VersionStatus.ACCEPTED
                else _("This offer was declined")
            )
            context["company_name"] = proposal_load(version).company_name
        return _private(render(request, "offers/public/message.html", context, status=410))


def _page(request, version, *, accept_form=None, decline_form=None, error: str = "", status: int = 200):
    proposal = proposal_load(version)
    with translation.override(version.language):
        context = {
            "proposal": proposal,
            "version": version,
            "document": document_html(proposal, public=True),
            "document_hash": sha256_text(proposal_canonical(proposal)),
            "accept_form": accept_form or AcceptForm(),
            "decline_form": decline_form or DeclineForm(),
            "error": error,
            "chosen_package": (accept_form.data.get("package") if accept_form is not None else None)
            or (str(proposal.recommended.package.pk) if proposal.recommended else ""),
        }
        return _private(render(request, "offers/public/offer.html", context, status=status))


def _answer_start(request, token: str, form_class, form_name: str, invalid_error):
    """What accepting and declining begin with: the rate limit, the posted form and the version
    behind the token. An invalid form shows the offer again with ``invalid_error`` (in the offer's
    language), or the reason the link no longer works. Returns ``(version, form, response)``: a
    response means the request ends there."""
    if (limited := _limited(request, token)) is not None:
        return None, None, limited
    form = form_class(request.POST)
    version = services.version_for_token(token)
    if not form.is_valid():
        try:
            services.link_check(version)
        except LinkUnavailable as error:
            return version, form, _unavailable(request, version, error)
        with translation.override(version.language):
            return version, form, _page(request, version, **{form_name: form}, error=str(invalid_error), status=400)
    return version, form, None


@login_not_required
@require_http_methods(["GET", "HEAD"])
def offer(request, token: str):
    if (limited := _limited(request, token)) is not None:
        return limited
    version = services.version_for_token(token)
    try:
        services.link_check(version)
    except LinkUnavailable as error:
        return _unavailable(request, version, error)
    services.offer_viewed(version=version)
    return _page(request, version)


@login_not_required
@require_http_methods(["GET", "HEAD"])
def offer_pdf(request, token: str):
    if (limited := _limited(request, token)) is not None:
        return limited
    version = services.version_for_token(token)
    try:
        services.link_check(version)
    except LinkUnavailable as error:
        return _unavailable(request, version, error)
    return _private(pdf_response(proposal_load(version), inline=False))


@login_not_required
@require_POST
def accept(request, token: str):
    version, form, stop = _answer_start(
        request, token, AcceptForm, "accept_form", gettext_lazy("Please type your name and tick the box to accept.")
    )
    if stop is not None:
        return stop
    language = version.language if version is not None else translation.get_language()
    try:
        with translation.override(language):
            response, _created = services.offer_accept(
                token=token, name=form.cleaned_data["name"], package_id=form.cleaned_data.get("package"),
                document_hash=form.cleaned_data["document_hash"], ip_address=_client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
    except LinkUnavailable as error:
        return _unavailable(request, version, error)
    except PipelineError as error:
        version = services.version_for_token(token)
        with translation.override(version.language):
            return _page(request, version, accept_form=form, error=str(error.message), status=error.status_code)
    return _thanks(request, response)


@login_not_required
@require_POST
def decline(request, token: str):
    version, form, stop = _answer_start(
        request, token, DeclineForm, "decline_form", gettext_lazy("Please tell us why you decline.")
    )
    if stop is not None:
        return stop
    language = version.language if version is not None else translation.get_language()
    try:
        with translation.override(language):
            response, _created = services.offer_decline(
                token=token, reason=form.cleaned_data["reason"], name=form.cleaned_data["name"],
                ip_address=_client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
    except LinkUnavailable as error:
        return _unavailable(request, version, error)
    except PipelineError as error:
        with translation.override(version.language):
            return _page(request, version, decline_form=form, error=str(error.message), status=error.status_code)
    return _thanks(request, response)


def _thanks(request, response):
    version = response.version
    with translation.override(version.language):
        return _private(render(request, "offers/public/message.html", {
            "heading": _("Thank you, this offer is accepted") if response.kind == "accepted" else _("This offer was declined"),
            "response": response,
            "company_name": proposal_load(version).company_name,
        }))
