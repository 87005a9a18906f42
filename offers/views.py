"""Staff pages for offers: thin views that check the deal's visibility, call one service, redirect.

A version the user may not see answers 404 (as its deal would); one they may see but not
change answers 403.
"""
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import BaseForm
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from pipeline.exceptions import PipelineError
from pipeline.selectors import can_change_deal, deal_addressee, visible_deals

from . import selectors, services
from .documents import proposal_load
from .forms import LineForm, LineUpdateForm, OfferCreateForm, PackageForm, VersionTextsForm
from .models import OfferLine, OfferPackage, OfferVersion
from .pdf import proposal_pdf


def _version(request, pk: int, *, change: bool = False) -> OfferVersion:
    version = get_object_or_404(
        selectors.visible_versions(request.user).select_related("offer__deal__organization", "offer__deal__owner", "offer__deal__stage"),
        pk=pk,
    )
    if change and not can_change_deal(request.user, version.offer.deal):
        raise PermissionDenied(_("You can see this offer but not change it."))
    return version


def _fail(request, error: PipelineError):
    messages.error(request, error.message)


def _version_action(
    request, version: OfferVersion, call: Callable[[], object], *, anchor: str = "", success: str = "",
    form: BaseForm | None = None, invalid: str | Callable[[BaseForm], str] = "",
):
    """The shape of the small staff actions on a version: check the form (if any), call one service
    (a refusal becomes an error message, not an exception), and go back to the version's page at
    ``anchor``. ``call`` runs only once the form is valid."""
    if form is not None and not form.is_valid():
        messages.error(request, invalid(form) if callable(invalid) else invalid)
    else:
        try:
            call()
        except PipelineError as error:
            _fail(request, error)
        else:
            if success:
                messages.success(request, success)
    return redirect(version.get_absolute_url() + anchor)


def document_html(proposal, *, public: bool = False) -> str:
    """The proposal's body in the offer's language, whatever language the page around it uses."""
    with translation.override(proposal.version.language):
        return mark_safe(render_to_string("offers/_document.html", {"proposal": proposal, "public": public}))


def offer_list(request):
    offers = (
        selectors.visible_offers(request.user)
        .select_related("deal__organization", "deal__owner")
        .prefetch_related("versions")
        .order_by("-created_at", "-pk")[:100]
    )
    notifications = list(selectors.unread_notifications(request.user)[:20])
    return render(request, "offers/offer_list.html", {"offers": offers, "notifications": notifications, "nav": "offers"})


@require_POST
def notifications_read(request):
    services.notifications_mark_read(user=request.user)
    return redirect("offers:list")


@require_POST
def offer_create(request, deal_id: int):
    deal = get_object_or_404(visible_deals(request.user).select_related("organization"), pk=deal_id)
    if not can_change_deal(request.user, deal):
        raise PermissionDenied(_("You can see this deal but not change it."))
    form = OfferCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please check the offer's title and price list."))
        return redirect(deal.get_absolute_url())
    try:
        version = services.offer_create(
            deal=deal, actor=request.user, title=form.cleaned_data["title"], price_list=form.cleaned_data["price_list"]
        )
    except PipelineError as error:
        _fail(request, error)
        return redirect(deal.get_absolute_url())
    return redirect(version.get_absolute_url())


@require_safe
def deal_offers(request, deal_id: int):
    """The deal page's offers section on its own (for an include or an HTMX request)."""
    deal = get_object_or_404(visible_deals(request.user), pk=deal_id)
    template = "offers/_deal_offers.html" if request.htmx else "offers/deal_offers.html"
    return render(request, template, deal_offers_context(request.user, deal))


def deal_offers_context(user, deal) -> dict:
    return {
        "deal": deal,
        "offers": selectors.deal_offers(user=user, deal=deal),
        "can_change_offers": can_change_deal(user, deal),
        "create_form": OfferCreateForm(),
    }


@require_safe
def version_detail(request, pk: int):
    version = _version(request, pk)
    deal = version.offer.deal
    can_change = can_change_deal(request.user, deal)
    proposal = proposal_load(version)
    context = {
        "version": version,
        "offer": version.offer,
        "deal": deal,
        "addressee": deal_addressee(deal),
        "proposal": proposal,
        "document": document_html(proposal),
        "can_change": can_change,
        "can_approve": selectors.can_approve(request.user, version),
        "approval_needed": services.approval_needed(version),
        "discount_limit": services.discount_limit(),
        "versions": version.offer.versions.select_related("response").order_by("-number"),
        "events": version.events.select_related("actor"),
        "response": getattr(version, "response", None) if version.status != "draft" else None,
        "nav": "offers",
    }
    if can_change and version.is_editable:
        context.update(
            texts_form=VersionTextsForm(instance=version),
            package_form=PackageForm(),
            line_form=LineForm(version=version),
        )
    return render(request, "offers/version_detail.html", context)


@require_POST
def version_texts(request, pk: int):
    version = _version(request, pk, change=True)
    form = VersionTextsForm(request.POST, instance=OfferVersion.objects.get(pk=version.pk))
    return _version_action(
        request, version, lambda: services.version_update(version=version, actor=request.user, **form.cleaned_data),
        form=form, invalid=lambda form: _("Please check the texts: %(errors)s") % {"errors": form.errors.as_text()},
        success=_("Saved."),
    )


@require_POST
def package_add(request, pk: int):
    version = _version(request, pk, change=True)
    form = PackageForm(request.POST)
    return _version_action(
        request, version, lambda: services.package_add(version=version, actor=request.user, **form.cleaned_data),
        form=form, invalid=_("A package needs a name."), anchor="#packages",
    )


@require_POST
def package_delete(request, pk: int):
    package = get_object_or_404(OfferPackage, pk=pk)
    version = _version(request, package.version_id, change=True)
    return _version_action(
        request, version, lambda: services.package_remove(package=package, actor=request.user), anchor="#packages"
    )


@require_POST
def line_add(request, pk: int):
    version = _version(request, pk, change=True)
    form = LineForm(request.POST, version=version)

    def add():
        data = form.cleaned_data
        services.line_add(
            version=version, actor=request.user, product=data["product"], description=data["description"],
            quantity=data["quantity"], unit=data.get("unit") or None, unit_price=data["unit_price"],
            discount_percent=data["discount_percent"] or 0, tax_rate=data["tax_rate"], package=data.get("package"),
        )

    return _version_action(
        request, version, add, form=form, anchor="#lines",
        invalid=lambda form: " ".join(str(e) for errors in form.errors.values() for e in errors),
    )


@require_POST
def line_update(request, pk: int):
    line = get_object_or_404(OfferLine, pk=pk)
    version = _version(request, line.version_id, change=True)
    form = LineUpdateForm(request.POST)
    return _version_action(
        request, version, lambda: services.line_update(line=line, actor=request.user, **form.cleaned_data),
        form=form, invalid=_("Please check the line's numbers."), anchor="#lines",
    )


@require_POST
def line_delete(request, pk: int):
    line = get_object_or_404(OfferLine, pk=pk)
    version = _version(request, line.version_id, change=True)
    return _version_action(
        request, version, lambda: services.line_remove(line=line, actor=request.user), anchor="#lines"
    )


@require_POST
def request_approval(request, pk: int):
    version = _version(request, pk, change=True)
    return _version_action(
        request, version, lambda: services.offer_request_approval(version=version, actor=request.user),
        success=_("The managers of the team were asked to approve the discount."),
    )


@require_POST
def approve(request, pk: int):
    version = _version(request, pk)
    try:
        services.offer_approve(version=version, approver=request.user)
        messages.success(request, _("Discount approved."))
    except PipelineError as error:
        if error.code == "not_approver":
            raise PermissionDenied(error.message) from error
        _fail(request, error)
    return redirect(version.get_absolute_url())


@require_POST
def send(request, pk: int):
    version = _version(request, pk, change=True)
    try:
        version, token = services.offer_send(
            version=version, actor=request.user, base_url=request.build_absolute_uri("/")
        )
    except PipelineError as error:
        _fail(request, error)
        return redirect(version.get_absolute_url())
    url = request.build_absolute_uri(services.public_path(token))
    addressee = deal_addressee(version.offer.deal)
    if addressee and addressee.email:
        messages.success(request, _("Sent. The customer received the link by e-mail."))
    else:
        messages.warning(request, _("Sent. The lead has no e-mail address: pass the link on yourself."))
    # Shown once, to the sender (the messages travel in a signed cookie): Stageflow stores only
    # the token's hash, so a lost link is replaced by sending a new version.
    messages.info(request, url, extra_tags="offer-link sf-inline")
    return redirect(version.get_absolute_url())


@require_POST
def resend(request, pk: int):
    version = _version(request, pk, change=True)
    try:
        version, token = services.offer_resend(version=version, actor=request.user, base_url=request.build_absolute_uri("/"))
    except PipelineError as error:
        _fail(request, error)
        return redirect(version.get_absolute_url())
    messages.success(request, _("A new link was sent; the old one no longer works."))
    messages.info(request, request.build_absolute_uri(services.public_path(token)), extra_tags="offer-link sf-inline")
    return redirect(version.get_absolute_url())


@require_POST
def withdraw(request, pk: int):
    version = _version(request, pk, change=True)
    return _version_action(
        request, version, lambda: services.offer_withdraw(version=version, actor=request.user),
        success=_("Withdrawn. The customer's link no longer works."),
    )


@require_POST
def revise(request, pk: int):
    version = _version(request, pk, change=True)
    try:
        new = services.offer_revise(version=version, actor=request.user)
    except PipelineError as error:
        _fail(request, error)
        return redirect(version.get_absolute_url())
    return redirect(new.get_absolute_url())


@require_safe
def version_print(request, pk: int):
    version = _version(request, pk)
    proposal = proposal_load(version)
    with translation.override(version.language):
        return render(request, "offers/print.html", {"proposal": proposal, "version": version})


@require_safe
def version_pdf(request, pk: int):
    version = _version(request, pk)
    return pdf_response(proposal_load(version), inline=request.GET.get("download") != "1")


def pdf_response(proposal, *, inline: bool = True) -> HttpResponse:
    response = HttpResponse(proposal_pdf(proposal), content_type="application/pdf")
    filename = f"{proposal.offer.number}-v{proposal.version.number}.pdf"
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    return response

