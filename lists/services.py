"""Every write of saved views and default views."""
from urllib.parse import urlencode

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from pipeline.exceptions import PipelineError

from .models import DefaultView, ListKind, SavedView

# What a saved view keeps of a list's address: everything but the page and the view's own id.
NOT_SAVED = frozenset({"after", "saved", "format", "csrfmiddlewaretoken", "name", "share", "pin", "make_default"})
MAX_QUERY = 4000


class SavedViewRefused(PipelineError):
    pass


def query_clean(params) -> str:
    pairs = [(k, v) for k, values in params.lists() for v in values if k not in NOT_SAVED and v != ""]
    query = urlencode(pairs)
    if len(query) > MAX_QUERY:
        raise SavedViewRefused(_("This view has too many filters to be saved."), code="too_long")
    return query


def visible_saved_views(user, kind: str | None = None):
    """The views a person may use: their own and their team's."""
    q = Q(owner=user)
    if getattr(user, "team_id", None):
        q |= Q(team_id=user.team_id)
    qs = SavedView.objects.filter(q)
    return qs.filter(kind=kind) if kind else qs


@transaction.atomic
def saved_view_create(*, actor, kind: str, name: str, params, share_with_team: bool = False,
                      pinned: bool = False, make_default: bool = False) -> SavedView:
    if kind not in ListKind.values:
        raise SavedViewRefused(_("There is no such list."), code="invalid_kind")
    name = " ".join((name or "").split())[:100]
    if not name:
        raise SavedViewRefused(_("Name the view."), code="invalid_name")
    if share_with_team and not actor.team_id:
        raise SavedViewRefused(_("You are in no team to share the view with."), code="no_team")
    view = SavedView.objects.create(
        kind=kind, name=name, query=query_clean(params), owner=actor, team_id=actor.team_id if share_with_team else None,
        pinned=pinned,
    )
    if make_default:
        default_view_set(actor=actor, view=view)
    return view


@transaction.atomic
def saved_view_delete(*, actor, view: SavedView) -> None:
    if view.owner_id != actor.pk:
        raise SavedViewRefused(_("Only whoever saved a view can delete it."), code="not_owner")
    view.delete()


@transaction.atomic
def saved_view_pin(*, actor, view: SavedView, pinned: bool) -> SavedView:
    if view.owner_id != actor.pk:
        raise SavedViewRefused(_("Only whoever saved a view can pin it."), code="not_owner")
    SavedView.objects.filter(pk=view.pk).update(pinned=pinned)
    view.pinned = pinned
    return view


@transaction.atomic
def default_view_set(*, actor, view: SavedView | None, kind: str | None = None) -> None:
    """The view `actor`'s list of that kind opens with; None: the list's own default again."""
    kind = view.kind if view is not None else kind
    if view is not None and not visible_saved_views(actor).filter(pk=view.pk).exists():
        raise SavedViewRefused(_("You cannot use this view."), code="not_visible")
    DefaultView.objects.filter(user=actor, kind=kind).delete()
    if view is not None:
        DefaultView.objects.create(user=actor, kind=kind, view=view)
