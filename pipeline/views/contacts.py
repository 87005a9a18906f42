"""The deal page's contacts: who is on the deal in which role; add someone (a person at the deal's
organisation, anyone else the user sees, or a new person at the organisation), change a role,
remove someone.

Whoever may change the deal may change its contacts (404 for a deal one does not see, 403 for one
one only sees). Every write goes through pipeline.people. An HTMX request gets the contacts panel
back, re-read from the database, with a toast; a refused one the panel with the reason in it, or
for a permission refusal only a toast. Without JavaScript the forms post the same URLs and come
back to the deal page.
"""
from functools import wraps

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import address_book
from .. import people as people_services
from ..exceptions import PipelineError
from ..forms import DealContactAddForm, DealContactRoleForm
from ..models import Deal, DealContact
from .common import changeable_deal, is_partial, refused, refusals_shown_on_board, shown_by_page, toast


def contacts_context(request, deal: Deal, can_change: bool, *, form=None, message: str = "", level: str = "success") -> dict:
    """What the contacts panel shows (the deal page includes it, the HTMX answers render it alone)."""
    roles = address_book.active_contact_roles()
    context = {
        "deal": deal, "can_change": can_change, "contacts": address_book.deal_contacts(deal), "contact_roles": roles,
        "toasts": [toast(message, level)] if message else [],
    }
    if can_change:
        candidates = address_book.deal_contact_candidates(request.user, deal)
        context["contact_form"] = form or DealContactAddForm(user=request.user, candidates=candidates, roles=roles)
    return context


def _answer(request, deal: Deal, *, message: str = "", form=None, status: int = 200, level: str = "success"):
    """The panel for HTMX; without JavaScript, the deal page (again, with the form's errors)."""
    if is_partial(request):
        context = contacts_context(request, deal, True, form=form, message=message, level=level)
        response = render(request, "pipeline/_deal_contacts.html", context, status=status)
        return shown_by_page(response) if status >= 400 else response
    if status < 400:
        messages.success(request, message)
        return redirect(deal.get_absolute_url() + "#contacts")
    if form is None:
        return refused(request, message=message, status=status, deal=deal)
    from .deals import deal_page_render

    return deal_page_render(request, deal, contact_form=form, status=status)


def _permission_refusals_swap_nothing(view):
    """A permission refusal (403, 404) of an HTMX request is a toast only: the panel stays."""

    @wraps(view)
    @refusals_shown_on_board
    def wrapped(request, *args, **kwargs):
        return view(request, *args, **kwargs)

    @wraps(view)
    def answer(request, *args, **kwargs):
        response = wrapped(request, *args, **kwargs)
        if is_partial(request) and response.status_code in (403, 404) and response.get("X-Stageflow-Refusal"):
            response["HX-Reswap"] = "none"
        return response

    return answer


@require_POST
@_permission_refusals_swap_nothing
def deal_contact_add(request, pk):
    """POST /pipeline/deals/<id>/contacts/ — put someone on the deal in a role (a person already on
    it gets the new role)."""
    user = request.user
    deal = changeable_deal(user, pk)
    roles = address_book.active_contact_roles()
    form = DealContactAddForm(
        request.POST, user=user, candidates=address_book.deal_contact_candidates(user, deal), roles=roles,
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                person = data["person"] or data["other"]
                if person is None:
                    person = people_services.person_create(
                        actor=user, name=data["new_name"], organization=deal.organization, owner=deal.owner,
                        emails=[data["new_email"]] if data["new_email"] else (),
                        phones=[data["new_phone"]] if data["new_phone"] else (),
                    )
                people_services.deal_contact_add(deal=deal, person=person, role=data["role"], actor=user)
        except PipelineError as refusal:
            form.add_error(None, refusal.message)
        else:
            if data["role"] is not None:
                message = _("%(name)s is on the deal as %(role)s.") % {"name": person.name, "role": data["role"]}
            else:
                message = _("%(name)s is on the deal.") % {"name": person.name}
            return _answer(request, deal, message=message)
    return _answer(request, deal, form=form, status=400)


def _contact_or_404(deal: Deal, person_pk) -> DealContact:
    contact = DealContact.objects.filter(deal=deal, person_id=person_pk).select_related("person", "role").first()
    if contact is None:
        raise Http404(_("This person is not on the deal (any more)."))
    return contact


@require_POST
@_permission_refusals_swap_nothing
def deal_contact_role(request, pk, person_pk):
    """POST /pipeline/deals/<id>/contacts/<person id>/ with `role` (empty: no particular role)."""
    deal = changeable_deal(request.user, pk)
    contact = _contact_or_404(deal, person_pk)
    form = DealContactRoleForm(request.POST, roles=address_book.active_contact_roles(), current=contact.role)
    if not form.is_valid():
        return _answer(request, deal, message=form.errors["role"][0], status=400, level="danger")
    role = form.cleaned_data["role"]
    try:
        people_services.deal_contact_add(deal=deal, person=contact.person, role=role, actor=request.user)
    except PipelineError as refusal:
        return _answer(request, deal, message=refusal.message, status=400, level="danger")
    if role is None:
        message = _("%(name)s has no particular role on the deal now.") % {"name": contact.person.name}
    else:
        message = _("%(name)s is %(role)s on the deal now.") % {"name": contact.person.name, "role": role}
    return _answer(request, deal, message=message)


@require_POST
@_permission_refusals_swap_nothing
def deal_contact_remove(request, pk, person_pk):
    """POST /pipeline/deals/<id>/contacts/<person id>/remove/ — the person stays in the address book."""
    deal = changeable_deal(request.user, pk)
    contact = _contact_or_404(deal, person_pk)
    people_services.deal_contact_remove(deal=deal, person=contact.person, actor=request.user)
    return _answer(request, deal, message=_("%(name)s is no longer on the deal.") % {"name": contact.person.name})
