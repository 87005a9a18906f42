"""The permission matrix: every URL of the project, for every kind of person, GET and POST, as a
full page and as an HTMX partial.

The URLs are DISCOVERED from the URL configuration (not a hand-kept list), so a new endpoint
cannot escape: its name must be classified in RULES below, or this test fails and says so. URL
arguments are filled from the fixtures by name (`deal_pk`, `stage_id`, …; a bare `pk` by what the
URL name says it is about: `deal_detail` → the deal); an argument nobody knows how to fill fails
the test too, so the developer adds it here.

The people, around one deal owned by rita (team North):

    anonymous      not signed in                      → the sign-in page (API: 401/403)
    owner          rita, a rep, owns the deal         → allowed
    teammate       tom, a rep in North                → may read (GET), may not change (403)
    outsider       olga, a rep in South               → 404, as if it did not exist
    manager        max, manages North                 → allowed
    other_manager  sam, manages South                 → 404
    admin          ada                                → allowed

Besides status codes, every response a person gets is searched for the title of a deal, the
name of a lead and the names of people they may not see (the "leak probe"), so a board, list,
partial, choice list or export that shows another team's data fails here as well.

Skipped, and why:
- the Django admin (`admin:` namespace): it has its own staff and model-permission checks, tested
  by Django; tests/accounts/test_admin_audit.py checks that reps and managers cannot open it;
- static files (served by WhiteNoise or `static()` only in development; no data behind them).

Run with `-v` (or STAGEFLOW_MATRIX_REPORT=1) to print the whole matrix (tests/accounts/conftest.py).
"""
import io
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.shortcuts import resolve_url
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from pipeline.models import LostReason, Transition
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory, default_pipeline

pytestmark = pytest.mark.django_db

# --- What each URL should do ------------------------------------------------------------------------

PUBLIC = "public"  # anyone, signed in or not (sign-in, password reset)
SIGNED_IN = "signed_in"  # every signed-in person; what they see is filtered (the leak probe checks)
OBJECT = "object"  # about one deal, lead or person: read with GET, change with POST
OBJECT_CHANGE = "object_change"  # about one object, and every method changes it (edit forms)
MANAGERS = "managers"  # managers and admins only; reps get 403
ADMINS = "admins"  # admins only
CONFIG = "config"  # shared configuration: everyone signed in reads (GET), only admins write (403 for others)
PERSONAL = "personal"  # one person's own thing (an API token): everyone else, admins too, gets 404


OK, LOGIN, UNAUTH, FORBIDDEN, HIDDEN, NOT_ALLOWED = "ok", "login", "unauth", "403", "404", "405"


@dataclass(frozen=True)
class Rule:
    kind: str = ""  # empty: the default rule — OBJECT when the URL names a deal, lead or person, else SIGNED_IN
    obj: str = ""  # what a bare `pk`/`id` means, when the URL name does not say
    login_redirect_ok: bool = False  # ends on the sign-in page by design (sign-out)
    values: tuple = ()  # fixed URL arguments, as (name, value) pairs, e.g. (("kind", "leads"),)
    overrides: tuple = ()  # (person, outcome) pairs where this URL differs from its kind's rule
    probe: bool = True  # False for capability links, which show their one object to whoever holds them
    note: str = ""


DEFAULT = Rule()

# Every URL name of the project (namespaced) or, for an unnamed URL, its path. A new URL must be
# added here; DEFAULT is right for most pages.
RULES: dict[str, Rule] = {
    "/": DEFAULT,  # redirects to the board
    # Sign-in (django.contrib.auth.urls)
    "login": Rule(PUBLIC),
    "logout": Rule(SIGNED_IN, login_redirect_ok=True, note="POST only; ends on the sign-in page"),
    "password_change": DEFAULT,
    "password_change_done": DEFAULT,
    "password_reset": Rule(PUBLIC),
    "password_reset_done": Rule(PUBLIC),
    "password_reset_confirm": Rule(PUBLIC, note="an invalid link shows its own message"),
    "password_reset_complete": Rule(PUBLIC),
    # The language switcher (user menu and sign-in page); saves the choice on a signed-in user
    "set_language": Rule(PUBLIC, note="POST only; redirects to `next`"),
    # The board
    "pipeline:board": DEFAULT,
    "pipeline:deal_create": DEFAULT,  # a new deal of one's own (the owner field offers assignable people)
    "pipeline:deal_quick_add": DEFAULT,  # about a stage: anyone may add a deal of their own to it
    "pipeline:deal_detail": DEFAULT,  # GET the page, POST the edit form
    "pipeline:deal_move": DEFAULT,
    "pipeline:deal_lose": DEFAULT,
    "pipeline:deal_reopen": DEFAULT,
    "pipeline:lead_list_moved": DEFAULT,  # the lead list's old address: redirects to qualification:lead_list
    "pipeline:organization_list": DEFAULT,  # every organisation one may see (the leak probe checks)
    "pipeline:organization_lookup": DEFAULT,  # suggestions for a lead field, from the leads one may see
    "pipeline:organization_create": DEFAULT,
    "pipeline:organization_detail": DEFAULT,
    "pipeline:organization_moved": DEFAULT,  # an old lead page address: its organisation page, for those who may see it
    "pipeline:organization_edit": Rule(OBJECT_CHANGE, note="the edit form itself is only for those who may change"),
    # Duplicates and merges: suggestions among the records one may see; a merge by whoever may change both
    "pipeline:duplicates": DEFAULT,
    "pipeline:organization_merge": Rule(OBJECT_CHANGE, note="a merge changes both records and deletes one"),
    "pipeline:person_merge": Rule(OBJECT_CHANGE, note="a merge changes both records and deletes one"),
    # A person's data (export) and its erasure: admins and the managers responsible for the person
    "pipeline:person_data": Rule(OBJECT_CHANGE, overrides=(("owner", FORBIDDEN),),
                                 note="the whole record, what every team wrote included: admins and managers"),
    "pipeline:person_data_json": Rule(OBJECT_CHANGE, overrides=(("owner", FORBIDDEN),)),
    "pipeline:person_erase": Rule(OBJECT_CHANGE, overrides=(("owner", FORBIDDEN),), note="cannot be undone"),
    # People: visible with their organisation, their deals or their owner (pipeline.selectors.visible_persons)
    "pipeline:person_list": DEFAULT,  # the people one may see (the leak probe checks)
    "pipeline:person_lookup": DEFAULT,  # suggestions for a person field, from the people one may see
    "pipeline:person_create": DEFAULT,  # a new person of one's own
    "pipeline:person_detail": DEFAULT,
    "pipeline:person_edit": Rule(OBJECT_CHANGE, note="the edit form itself is only for those who may change"),
    # A deal's contacts: changed by whoever may change the deal
    "pipeline:deal_contact_add": DEFAULT,
    "pipeline:deal_contact_role": DEFAULT,
    "pipeline:deal_contact_remove": DEFAULT,
    # Qualification, imports and exports (the leak probe reads the exported files too)
    "qualification:lead_list": DEFAULT,
    # Lists: what one may see, filtered (the leak probe checks); saved views are their owner's to change
    "lists:home": DEFAULT,
    "lists:list": Rule(values=(("kind", "deals"),)),
    "lists:pinned": DEFAULT,
    "lists:savedview_create": Rule(values=(("kind", "deals"),), note="POST only; saves a view of one's own"),
    "lists:savedview_delete": Rule(PERSONAL, obj="savedview"),
    "lists:savedview_pin": Rule(PERSONAL, obj="savedview"),
    "lists:savedview_default": Rule(PERSONAL, obj="savedview", note="a personal view; a team's is its team's too"),
    "lists:bulk_start": Rule(values=(("kind", "deals"),), note="POST only; each deal is checked as a change of it alone"),
    "lists:bulk_status": Rule(PERSONAL, obj="bulkchange", note="a bulk change is its maker's"),
    "lists:bulk_undo": Rule(PERSONAL, obj="bulkchange"),
    "exports:board_csv": DEFAULT,
    "exports:board_xlsx": DEFAULT,
    "exports:organizations_csv": DEFAULT,
    "exports:organizations_xlsx": DEFAULT,
    "exports:everything_zip": DEFAULT,  # everything one may see (the leak probe reads the CSV files inside)
    "exports:everything_json": DEFAULT,
    "imports:upload": DEFAULT,
    "imports:sample": Rule(values=(("kind", "organizations"),)),
    "imports:status": Rule(PERSONAL, obj="importjob", note="an import is its uploader's"),
    "imports:mapping": Rule(PERSONAL, obj="importjob"),
    "imports:preview": Rule(PERSONAL, obj="importjob"),
    "imports:values": Rule(PERSONAL, obj="importjob"),
    "imports:problems": Rule(PERSONAL, obj="importjob", note="the file's problem rows as CSV"),
    "imports:commit": Rule(PERSONAL, obj="importjob"),
    "imports:undo": Rule(PERSONAL, obj="importjob", note="undo a finished import as a whole"),
    # Offers: about a deal's offer version (or its packages and lines), visible and changeable as the deal
    "offers:list": DEFAULT,
    "offers:notifications_read": DEFAULT,
    "offers:deal_offers": DEFAULT,
    "offers:create": DEFAULT,
    "offers:version_detail": Rule(OBJECT, obj="offerversion"),
    "offers:version_texts": Rule(OBJECT, obj="offerversion"),
    "offers:package_add": Rule(OBJECT, obj="offerversion"),
    "offers:line_add": Rule(OBJECT, obj="offerversion"),
    "offers:request_approval": Rule(OBJECT, obj="offerversion"),
    "offers:approve": Rule(OBJECT, obj="offerversion", overrides=(("owner", FORBIDDEN),),
                           note="a manager approves a rep's discount; nobody approves their own"),
    "offers:send": Rule(OBJECT, obj="offerversion"),
    "offers:resend": Rule(OBJECT, obj="offerversion"),
    "offers:withdraw": Rule(OBJECT, obj="offerversion"),
    "offers:revise": Rule(OBJECT, obj="offerversion"),
    "offers:print": Rule(OBJECT, obj="offerversion"),
    "offers:pdf": Rule(OBJECT, obj="offerversion"),
    "offers:package_delete": Rule(OBJECT, obj="offerpackage"),
    "offers:line_update": Rule(OBJECT, obj="offerline"),
    "offers:line_delete": Rule(OBJECT, obj="offerline"),
    # The customer's offer pages: no account; the link is the permission
    "offers_public:offer": Rule(PUBLIC, obj="offerlink", probe=False),
    "offers_public:pdf": Rule(PUBLIC, obj="offerlink", probe=False),
    "offers_public:accept": Rule(PUBLIC, obj="offerlink", probe=False),
    "offers_public:decline": Rule(PUBLIC, obj="offerlink", probe=False),
    # Activities, notes, onboarding and upsell: about a deal or lead, visible and changeable as it
    "activities:mine": DEFAULT,  # one's own activities and those on deals one may see
    "activities:create": DEFAULT,
    "activities:note_create": DEFAULT,
    "activities:organization_create": DEFAULT,
    "activities:organization_note_create": DEFAULT,
    "activities:person_create": DEFAULT,
    "activities:person_note_create": DEFAULT,
    "activities:upsell": DEFAULT,
    "activities:edit": Rule(OBJECT_CHANGE, obj="activity", note="the edit form itself is only for those who may change"),
    "activities:done": Rule(OBJECT, obj="activity"),
    "activities:reopen": Rule(OBJECT, obj="activity"),
    "activities:onboarding_toggle": Rule(OBJECT, obj="onboardingtask"),
    "pipeline:deal_snooze": DEFAULT,
    # Files: visible with their deal, organisation or person; added, renamed and deleted by whoever may change it
    "attachments:deal": DEFAULT,  # GET the panel (HTMX) or the deal page; POST uploads
    "attachments:organization": DEFAULT,
    "attachments:person": DEFAULT,
    "attachments:download": Rule(OBJECT, obj="attachment", note="GET only"),
    "attachments:preview": Rule(OBJECT, obj="attachment", note="GET only"),
    "attachments:rename": Rule(OBJECT, obj="attachment", note="POST only"),
    "attachments:delete": Rule(OBJECT, obj="attachment", note="POST only"),
    # Health, forecast and the REST API (anonymous API requests: 401/403)
    "healthz": Rule(PUBLIC, note="for load balancers and monitoring; no data"),
    "forecasting:dashboard": DEFAULT,  # scoped to the people the user may see
    "forecasting:recompute": Rule(kind=MANAGERS),  # queues a recompute of a pipeline they see
    "api:deal-list": DEFAULT,
    "api:deal-detail": DEFAULT,
    "api:deal-history": DEFAULT,
    "api:deal-move": DEFAULT,
    "api:deal-lose": DEFAULT,
    "api:deal-reopen": DEFAULT,
    "api:deal-contacts": DEFAULT,  # read with the deal, added to by whoever may change it
    "api:deal-contact": DEFAULT,  # one person on the deal: GET here; PATCH and DELETE in tests/api/test_deal_contacts.py
    "api:organization-list": DEFAULT,
    "api:organization-detail": DEFAULT,
    "api:person-list": DEFAULT,
    "api:person-detail": DEFAULT,  # PATCH only (not in the matrix's GET/POST): tests/api/test_people.py
    "api:lead-list": DEFAULT,
    "api:lead-detail": DEFAULT,
    "api:user-list": DEFAULT,
    "api:user-detail": DEFAULT,
    "api:pipeline-list": Rule(CONFIG),
    "api:pipeline-detail": Rule(CONFIG),
    "api:stage-list": Rule(CONFIG),
    "api:stage-detail": Rule(CONFIG),
    "api:lostreason-list": Rule(CONFIG),
    "api:lostreason-detail": Rule(CONFIG),
    "api:contactrole-list": Rule(CONFIG, note="read-only"),
    "api:contactrole-detail": Rule(CONFIG, obj="contactrole", note="read-only"),
    "api:activity-list": DEFAULT,  # the leak probe checks the list; POST needs a subject one may change
    "api:activity-detail": Rule(OBJECT, obj="activity", note="PATCH: tests/api/test_activities.py"),
    "api:note-list": DEFAULT,
    "api:note-detail": Rule(OBJECT, obj="note"),
    "api:product-list": DEFAULT,  # the price book: read-only, the same for everyone
    "api:product-detail": Rule(SIGNED_IN, obj="product"),
    "api:offer-list": DEFAULT,  # offers on deals one may see; POST needs a deal one may change
    "api:offer-detail": Rule(OBJECT, obj="offer", note="PATCH: tests/api/test_offers.py"),
    "api:offer-lines": Rule(OBJECT, obj="offer"),
    "api:attachment-list": DEFAULT,  # files on records one may see; POST needs a record one may change
    "api:attachment-detail": Rule(OBJECT, obj="attachment", note="PATCH and DELETE: tests/api/test_files.py"),
    "api:attachment-download": Rule(OBJECT, obj="attachment"),
    "api:forecast": DEFAULT,
    "api:schema": DEFAULT,
    "api:docs": DEFAULT,
    "api:tokens": DEFAULT,
    "api:token_revoke": Rule(PERSONAL),
    # E-mail and calendar: one's own mailbox settings; threads follow their deals (a private one: its owner only)
    "mail:settings": DEFAULT,  # one's own mailbox: nobody else's is ever shown
    "mail:sync": DEFAULT,  # syncs one's own mailbox, if any
    "mail:disconnect": DEFAULT,  # forgets one's own mailbox, if any
    "mail:thread": Rule(OBJECT, obj="mailthread", note="a shared thread on rita's deal: seen as the deal is"),
    "mail:thread_privacy": Rule(OBJECT, obj="mailthread", overrides=(("manager", FORBIDDEN), ("admin", FORBIDDEN)),
                                note="only the mailbox's owner shares a thread or makes it private"),
    "mail:calendar_renew": DEFAULT,  # a new link for one's own calendar feed
    "mail:calendar_revoke": DEFAULT,
    "mail:calendar_feed": Rule(PUBLIC, obj="calendarfeed", probe=False,
                               note="for calendar apps, which cannot sign in: the secret link is the permission"),
    "mail:meeting_invite": Rule(OBJECT, obj="activity", note="invites the deal's contacts to a meeting; POST only"),
    "mail:deal_compose": Rule(OBJECT_CHANGE, note="written by whoever may change the deal, from their own mailbox"),
    "mail:person_compose": Rule(OBJECT_CHANGE, note="written by whoever may change the person, from their own mailbox"),
    # Find anything: what each person finds is what they may see (tests/search/ search each field as each person)
    "search:search": DEFAULT,
}

# Objects whose visibility depends on who asks (selectors); others are shared configuration.
SUBJECTS = ("deal", "organization", "person", "user")
# Words in a URL name that say what a bare `pk` is, most specific first.
OBJECT_WORDS = {
    "deal": "deal", "organization": "organization", "lead": "organization", "person": "person", "user": "user", "stage": "stage",
    "pipeline": "pipeline",
    "team": "team", "lostreason": "lostreason", "lost_reason": "lostreason", "lost-reason": "lostreason",
    "transition": "transition", "token": "apitoken", "version": "offerversion", "person": "person",
}
# Arguments filled by their name.
KWARG_OBJECTS = {
    f"{obj}_{suffix}": obj for obj in set(OBJECT_WORDS.values()) for suffix in ("pk", "id")
}
BARE_KWARGS = {"pk", "id", "object_id"}

PERSONAS = ["anonymous", "owner", "teammate", "outsider", "manager", "other_manager", "admin"]
VARIANTS = {  # name: (method, HTMX request?)
    "GET": ("get", False),
    "GET hx": ("get", True),
    "POST": ("post", False),
    "POST hx": ("post", True),
}
SYMBOL = {OK: "ok", LOGIN: "login", UNAUTH: "401", FORBIDDEN: "403", HIDDEN: "404", NOT_ALLOWED: "–"}

# --- Discovery ----------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    key: str
    route: str
    name: str | None
    kwargs: tuple[str, ...]
    callback: object
    skip: str = ""
    variants: list = field(default_factory=list)

    @property
    def is_api(self) -> bool:
        return getattr(self.callback, "cls", None) is not None and _is_drf(self.callback.cls)


def _is_drf(cls) -> bool:
    try:
        from rest_framework.views import APIView
    except ImportError:  # pragma: no cover - DRF is a dependency
        return False
    return isinstance(cls, type) and issubclass(cls, APIView)


def _skip_reason(key: str, callback) -> str:
    if key.startswith("admin:") or key == "admin":
        return "Django admin: its own staff and model-permission checks"
    module = getattr(callback, "__module__", "")
    if module in ("django.views.static", "django.contrib.staticfiles.views"):
        return "static files"
    return ""


def _walk(patterns, prefix="", namespace=None, kwargs=()):
    for p in patterns:
        names = tuple(p.pattern.regex.groupindex)
        if isinstance(p, URLResolver):
            ns = f"{namespace}:{p.namespace}" if namespace and p.namespace else (p.namespace or namespace)
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns, kwargs + names)
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            key = f"{namespace}:{p.name}" if namespace and p.name else (p.name or "/" + route)
            if not p.name and namespace:
                key = f"{namespace}:/{route}"
            yield Endpoint(key=key, route=route, name=key if p.name else None, kwargs=kwargs + names, callback=p.callback)


def discover() -> list[Endpoint]:
    """Every URL pattern of the project, one per name (format-suffix variants of the REST API share
    a name with their plain pattern; the one with the fewest arguments represents them)."""
    by_key: dict[str, Endpoint] = {}
    for endpoint in _walk(get_resolver().url_patterns):
        endpoint.skip = _skip_reason(endpoint.key, endpoint.callback)
        known = by_key.get(endpoint.key)
        if known is None or len(endpoint.kwargs) < len(known.kwargs):
            by_key[endpoint.key] = endpoint
    return sorted(by_key.values(), key=lambda e: e.key)


ENDPOINTS = discover()
TESTED = [e for e in ENDPOINTS if not e.skip]


def unclassified(endpoints) -> list[str]:
    return [e.key for e in endpoints if not e.skip and e.key not in RULES]


def classify_message(keys) -> str:
    return (
        f"These URLs are not in the permission matrix: {', '.join(keys)}. Add each to RULES in "
        f"tests/accounts/test_permission_matrix.py, saying who may use it (DEFAULT: signed-in people, "
        f"and for a deal, lead or person the owner/teammate/team rules)."
    )


def bare_object(endpoint: Endpoint, rule: Rule) -> str | None:
    if rule.obj:
        return rule.obj
    name = (endpoint.name or endpoint.route).rsplit(":", 1)[-1].lower()
    hits = [(name.find(word), obj) for word, obj in OBJECT_WORDS.items() if word in name]
    return min(hits)[1] if hits else None


def kwarg_objects(endpoint: Endpoint, rule: Rule) -> dict[str, str]:
    """{argument: what fills it}; raises LookupError for an argument nobody knows how to fill."""
    result = {}
    fixed = dict(rule.values)
    for kwarg in endpoint.kwargs:
        if kwarg in fixed:
            result[kwarg] = ("value", fixed[kwarg])
        elif kwarg in KWARG_OBJECTS:
            result[kwarg] = KWARG_OBJECTS[kwarg]
        elif (kwarg in BARE_KWARGS or (kwarg == "token" and rule.obj)) and bare_object(endpoint, rule):
            result[kwarg] = bare_object(endpoint, rule)
        elif kwarg in ("uidb64", "token", "format"):
            result[kwarg] = kwarg
        else:
            raise LookupError(
                f"{endpoint.key} ({endpoint.route}) has the argument “{kwarg}”, which the permission matrix "
                f"cannot fill. Add it to KWARG_OBJECTS (or give the URL's rule an `obj=`) in "
                f"tests/accounts/test_permission_matrix.py."
            )
    return result


def effective_kind(endpoint: Endpoint, rule: Rule, objects: dict[str, str]) -> str:
    if rule.kind:
        return rule.kind
    return OBJECT if any(obj in SUBJECTS for obj in objects.values() if isinstance(obj, str)) else SIGNED_IN


def expected(kind: str, persona: str, method: str, *, is_api: bool) -> set[str]:
    if persona == "anonymous":
        if kind == PUBLIC:
            return {OK}
        return {UNAUTH, LOGIN} if is_api else {LOGIN}
    if kind in (PUBLIC, SIGNED_IN):
        return {OK}
    if kind == ADMINS:
        return {OK} if persona == "admin" else {FORBIDDEN, HIDDEN}
    if kind == MANAGERS:
        return {OK} if persona in ("manager", "other_manager", "admin") else {FORBIDDEN}
    if kind == CONFIG:
        return {OK} if method == "get" or persona == "admin" else {FORBIDDEN}
    if kind == PERSONAL:
        return {OK} if persona == "owner" else {HIDDEN}
    # OBJECT and OBJECT_CHANGE: about rita's deal (or lead, or rita herself)
    if persona in ("owner", "manager", "admin"):
        return {OK}
    if persona in ("outsider", "other_manager"):
        return {HIDDEN}
    changes = kind == OBJECT_CHANGE or method != "get"
    return {FORBIDDEN} if changes else {OK}


def outcome(response) -> str:
    status = response.status_code
    login_path = resolve_url(django_settings.LOGIN_URL)
    if urlsplit(response.get("HX-Redirect", "")).path == login_path:
        return LOGIN  # an HTMX request sent to the sign-in page (accounts.middleware)
    if status in (301, 302, 303, 307, 308):
        return LOGIN if urlsplit(response.get("Location", "")).path == login_path else OK
    if status == 401:
        return UNAUTH
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return HIDDEN
    if status == 405:
        return NOT_ALLOWED
    if status >= 500:
        return f"error {status}"
    return OK  # 2xx, and 400/409/422: the request reached the rules of the view


# --- The world -------------------------------------------------------------------------------------------

NORTH_DEAL_TITLE = "NorthProbeDeal-7c1"
NORTH_LEAD_NAME = "NorthProbeLead-7c1"
SOUTH_DEAL_TITLE = "SouthProbeDeal-9d2"
SOUTH_LEAD_NAME = "SouthProbeLead-9d2"
# People's names: owner filters, owner fields and user lists offer only people one may see.
NORTH_REP_NAME = "Northrep7c1"
SOUTH_REP_NAME = "Southrep9d2"
SOUTH_BOSS_NAME = "Southboss9d2"
# An organisation with deals of both teams, and what each team wrote about it.
SHARED_LEAD_NAME = "SharedProbeOrg-5e3"
NORTH_SHARED_DEAL_TITLE = "NorthSharedDeal-7c1"
SOUTH_SHARED_DEAL_TITLE = "SouthSharedDeal-9d2"
NORTH_NOTE = "NorthProbeNote-7c1"
SOUTH_NOTE = "SouthProbeNote-9d2"
NORTH_ACTIVITY = "NorthProbeActivity-7c1"
SOUTH_ACTIVITY = "SouthProbeActivity-9d2"
# A person at each team's organisation, on its deal.
NORTH_PERSON_NAME = "NorthProbePerson-7c1"
SOUTH_PERSON_NAME = "SouthProbePerson-9d2"


@pytest.fixture
def world(db, settings, monkeypatch):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    # The customer's offer pages count requests per address; hundreds of matrix requests would
    # hit that limit (and leave counts behind for later tests). Rate limits are not what this tests.
    if django_apps.is_installed("offers"):
        monkeypatch.setattr("offers.public_views.public_request_allowed", lambda **kwargs: True)
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    people = {
        "owner": UserFactory(username="rita", first_name="Rita", last_name=NORTH_REP_NAME, role="rep", team=north),
        "teammate": UserFactory(username="tom", first_name="Tom", last_name="Mate", role="rep", team=north),
        "outsider": UserFactory(username="olga", first_name="Olga", last_name=SOUTH_REP_NAME, role="rep", team=south),
        "manager": UserFactory(username="max", first_name="Max", last_name="North", role="manager", team=north),
        "other_manager": UserFactory(username="sam", first_name="Sam", last_name=SOUTH_BOSS_NAME, role="manager",
                                     team=south),
        "admin": UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True),
    }
    north.manager, south.manager = people["manager"], people["other_manager"]
    north.save()
    south.save()
    pipeline = default_pipeline()
    first = pipeline.stages.order_by("position").first()
    north_organization = OrganizationFactory(name=NORTH_LEAD_NAME, owner=people["owner"])
    south_organization = OrganizationFactory(name=SOUTH_LEAD_NAME, owner=people["outsider"])
    deal = DealFactory(owner=people["owner"], organization=north_organization, stage=first, title=NORTH_DEAL_TITLE)
    south_deal = DealFactory(owner=people["outsider"], organization=south_organization, stage=first, title=SOUTH_DEAL_TITLE)
    _shared_organisation(people, first)
    person = _person_on(deal, NORTH_PERSON_NAME, people["owner"])
    _person_on(south_deal, SOUTH_PERSON_NAME, people["outsider"])
    objects = LazyObjects(people, {
        "deal": deal,
        "organization": north_organization,
        "person": person,
        "user": people["owner"],
        "stage": first,
        "pipeline": pipeline,
        "team": north,
        "lostreason": LostReason.objects.order_by("position").first(),
        "transition": Transition.objects.filter(pipeline=pipeline).first(),
    })
    return people, objects


def _person_on(deal, name, owner):
    """Someone at the deal's organisation, owned by the deal's owner, on the deal as its decision maker."""
    from pipeline.models import ContactRole
    from pipeline.people import deal_contact_add, person_create

    person = person_create(actor=owner, name=name, organization=deal.organization, owner=owner,
                           emails=[f"{name.lower()}@example.com"])
    deal_contact_add(deal=deal, person=person, role=ContactRole.objects.order_by("position").first(), actor=owner)
    return person


def _shared_organisation(people, stage):
    """An organisation both teams sell to: each team's deal on it, and each team's notes and
    activities on the organisation itself. Both teams see the organisation; each sees only the
    notes and activities of people whose deals they may see."""
    from activities import services as activities

    shared = OrganizationFactory(name=SHARED_LEAD_NAME, owner=None)
    DealFactory(owner=people["owner"], organization=shared, stage=stage, title=NORTH_SHARED_DEAL_TITLE)
    DealFactory(owner=people["outsider"], organization=shared, stage=stage, title=SOUTH_SHARED_DEAL_TITLE)
    due = timezone.now() + timezone.timedelta(days=2)
    activities.note_create(actor=people["owner"], organization=shared, body=NORTH_NOTE)
    activities.note_create(actor=people["outsider"], organization=shared, body=SOUTH_NOTE)
    activities.activity_create(actor=people["owner"], organization=shared, kind="call", title=NORTH_ACTIVITY, due_at=due)
    activities.activity_create(actor=people["outsider"], organization=shared, kind="call", title=SOUTH_ACTIVITY, due_at=due)
    return shared


# Objects that belong to other apps, made only when a URL needs them: {name: maker(people)}.
OBJECT_MAKERS = {
    # rita's contact at her organisation (OrganizationFactory gives it a main contact she owns)
    "person": lambda people: django_apps.get_model("pipeline", "Organization").objects.get(name=NORTH_LEAD_NAME).main_contact,
    "apitoken": lambda people: django_apps.get_model("api", "ApiToken").issue(user=people["owner"], name="probe")[0],
    "offerversion": lambda people: _offer_version(people),
    "offerpackage": lambda people: _offer_version(people).packages.create(name="Probe package"),
    "offerline": lambda people: _offer_line(people),
    "offerlink": lambda people: _offer_link(people),
    "activity": lambda people: _activity(people),
    "contactrole": lambda people: django_apps.get_model("pipeline", "ContactRole").objects.create(name="Probe role"),
    "note": lambda people: _note(people),
    "offer": lambda people: _offer_version(people).offer,
    "product": lambda people: django_apps.get_model("offers", "Product").objects.create(name="Probe product", list_price=1),
    "onboardingtask": lambda people: django_apps.get_model("activities", "OnboardingTask").objects.create(
        deal=django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE), title="Probe kick-off",
    ),
    "attachment": lambda people: _attachment(people),
    "mailthread": lambda people: _mail_thread(people),
    "calendarfeed": lambda people: __import__("types").SimpleNamespace(
        pk=django_apps.get_model("mail", "CalendarFeed").objects.create(user=people["owner"]).token),
    "bulkchange": lambda people: django_apps.get_model("lists", "BulkChange").objects.create(
        action="move", params={"stage": 1}, deal_ids=[], actor=people["owner"], status="done",
    ),
    "savedview": lambda people: django_apps.get_model("lists", "SavedView").objects.create(
        kind="deals", name="Probe view", query="status=open", owner=people["owner"],
    ),
    "importjob": lambda people: django_apps.get_model("imports", "ImportJob").objects.create(
        created_by=people["owner"], kind="organizations", filename="organizations.csv", file_format="csv",
        headers=["name"], rows=[["Probe Ltd"]], total_rows=1,
    ),
}


def _activity(people):
    from activities import services as activities

    deal = django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE)
    return activities.activity_create(actor=people["owner"], deal=deal, title="Probe call", kind="call",
                                      due_at=timezone.now() + timezone.timedelta(days=1))


def _attachment(people):
    """An image on rita's deal, with the preview the worker would have made."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from attachments import services as attachments

    deal = django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE)
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(image, "PNG")
    attachment = attachments.attachment_add(file=SimpleUploadedFile("probe.png", image.getvalue()), actor=people["owner"], deal=deal)
    attachments.content_preview_make(content_id=attachment.content_id)
    return attachment

def _mail_thread(people):
    """A shared thread in rita's mailbox, on her deal and her contact on it."""
    deal = django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE)
    person = django_apps.get_model("pipeline", "Person").objects.get(name=NORTH_PERSON_NAME)
    thread = django_apps.get_model("mail", "Thread").objects.create(owner=people["owner"], subject="Probe thread")
    thread.deals.add(deal)
    thread.persons.add(person)
    return thread


def _note(people):
    from activities import services as activities

    deal = django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE)
    return activities.note_create(actor=people["owner"], deal=deal, body="Probe note")


def _offer_version(people):
    from offers import services as offers

    deal = django_apps.get_model("pipeline", "Deal").objects.get(title=NORTH_DEAL_TITLE)
    return offers.offer_create(deal=deal, actor=people["owner"])


def _offer_line(people):
    from offers import services as offers

    version = _offer_version(people)
    return offers.line_add(version=version, actor=people["owner"], product=None, description="Probe work",
                           quantity=1, unit=None, unit_price="100.00", discount_percent=0, tax_rate="19.00")


def _offer_link(people):
    """A sent offer whose customer link is known: the object's `pk` is the link's token."""
    from types import SimpleNamespace

    from django.utils import timezone

    from offers import services as offers

    version = _offer_version(people)
    token = "probe-link-token-7c1"
    version.status, version.token_hash = "sent", offers.token_hash(token)
    version.token_expires_at = timezone.now() + timezone.timedelta(days=7)
    version.save()
    return SimpleNamespace(pk=token)


class LazyObjects(dict):
    def __init__(self, people, objects):
        super().__init__(objects)
        self.people = people

    def __missing__(self, name):
        if name not in OBJECT_MAKERS:
            raise LookupError(f"The permission matrix has no “{name}” to put in a URL; add it to OBJECT_MAKERS.")
        self[name] = OBJECT_MAKERS[name](self.people)
        return self[name]


def fill(kwargs: dict[str, str], objects) -> dict:
    values = {}
    for kwarg, obj in kwargs.items():
        if isinstance(obj, tuple):
            values[kwarg] = obj[1]
        elif obj == "uidb64":
            values[kwarg] = urlsafe_base64_encode(force_bytes(objects["user"].pk))
        elif obj == "token":
            values[kwarg] = "not-a-valid-token"
        elif obj == "format":
            values[kwarg] = "json"
        else:
            values[kwarg] = objects[obj].pk
    return values


def url_for(endpoint: Endpoint, values: dict) -> str:
    if endpoint.name:
        return reverse(endpoint.name, kwargs=values or None)
    if values:
        raise LookupError(f"{endpoint.key}: an unnamed URL with arguments cannot be reversed; give it a name.")
    return "/" + endpoint.route.lstrip("^").rstrip("$")


# Probes: text that must never reach someone who may not see it.
HIDDEN_FROM = {
    NORTH_DEAL_TITLE: {"outsider", "other_manager"},
    NORTH_LEAD_NAME: {"outsider", "other_manager"},
    SOUTH_DEAL_TITLE: {"owner", "teammate", "manager"},
    SOUTH_LEAD_NAME: {"owner", "teammate", "manager"},
    NORTH_REP_NAME: {"outsider", "other_manager"},
    SOUTH_REP_NAME: {"owner", "teammate", "manager"},
    SOUTH_BOSS_NAME: {"owner", "teammate", "manager"},
    NORTH_SHARED_DEAL_TITLE: {"outsider", "other_manager"},
    SOUTH_SHARED_DEAL_TITLE: {"owner", "teammate", "manager"},
    NORTH_NOTE: {"outsider", "other_manager"},
    SOUTH_NOTE: {"owner", "teammate", "manager"},
    NORTH_ACTIVITY: {"outsider", "other_manager"},
    SOUTH_ACTIVITY: {"owner", "teammate", "manager"},
    NORTH_PERSON_NAME: {"outsider", "other_manager"},
    SOUTH_PERSON_NAME: {"owner", "teammate", "manager"},
}
# What the teammate may not see either when reps see only their own deals.
HIDDEN_FROM_TEAMMATE_WITHOUT_TEAM_VIEW = (
    NORTH_DEAL_TITLE, NORTH_LEAD_NAME, NORTH_REP_NAME, NORTH_SHARED_DEAL_TITLE, NORTH_NOTE, NORTH_ACTIVITY, NORTH_PERSON_NAME,
)

REPORT: dict[str, dict] = {}


def body_text(response) -> str:
    """What a person receives, as text: pages, JSON, CSV, the sheets inside an .xlsx file and the
    CSV files inside the full export's ZIP."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if raw[:2] == b"PK":  # a zip: Excel workbooks keep their cells in XML parts, the full export CSV files
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return "\n".join(archive.read(n).decode(errors="replace") for n in archive.namelist()
                             if n.endswith((".xml", ".csv")))
    return raw.decode(errors="replace")

REPORT_OWN_ONLY: dict[str, dict] = {}


def request(client, method: str, url: str, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    # Each request runs in a savepoint that is rolled back, so an allowed POST (a move, a delete)
    # cannot change what the next person is checked against.
    with transaction.atomic():
        response = getattr(client, method)(url, headers=headers)
        transaction.set_rollback(True)
    return response


def check_endpoint(
    endpoint: Endpoint, rule: Rule, people: dict, objects: dict, *, team_view: bool = True, personas=PERSONAS
) -> tuple[list[str], dict, str, str]:
    """Run the people and request kinds against one URL: (failures, cells, kind, url).

    `team_view=False` checks a set-up where reps do not see their teammates' deals
    (STAGEFLOW["REPS_SEE_TEAM_DEALS"] off): the teammate is then an outsider too."""
    hidden_from = {text: set(who) for text, who in HIDDEN_FROM.items()}
    if not team_view:
        for text in HIDDEN_FROM_TEAMMATE_WITHOUT_TEAM_VIEW:
            hidden_from[text].add("teammate")
    kwargs = kwarg_objects(endpoint, rule)  # LookupError for an argument nobody can fill
    kind = effective_kind(endpoint, rule, kwargs)
    url = url_for(endpoint, fill(kwargs, objects))

    clients = {}

    def client_for(persona):
        if persona not in clients:
            client = Client(raise_request_exception=False)
            if persona != "anonymous":
                client.force_login(people[persona])
            clients[persona] = client
        return clients[persona]

    def after(persona, response):
        # A request that touched the session cookie (a sign-out, a sign-in) gets the person a
        # fresh client, so that the next request is theirs again, signed in as before.
        if django_settings.SESSION_COOKIE_NAME in getattr(response, "cookies", {}):
            clients.pop(persona, None)

    # A method is offered when the person with the most rights (admin; anonymous for public
    # pages) is not answered 405. Unoffered methods must not answer anyone.
    failures, cells = [], {}
    for variant, (method, htmx) in VARIANTS.items():
        probe = "anonymous" if kind == PUBLIC else "admin"
        response = request(client_for(probe), method, url, htmx)
        after(probe, response)
        offered = outcome(response) != NOT_ALLOWED
        for persona in personas:
            response = request(client_for(persona), method, url, htmx)
            after(persona, response)
            got = outcome(response)
            if got == LOGIN and rule.login_redirect_ok and persona != "anonymous":
                got = OK
            want = expected(kind, persona, method, is_api=endpoint.is_api)
            if persona in dict(rule.overrides):
                want = {dict(rule.overrides)[persona]}
            if not team_view and persona == "teammate" and kind in (OBJECT, OBJECT_CHANGE):
                want = {HIDDEN}
            if not offered:
                want = {NOT_ALLOWED, LOGIN, UNAUTH, FORBIDDEN, HIDDEN}
            cells[(persona, variant)] = SYMBOL.get(got, got) if offered else "–"
            if got not in want:
                failures.append(
                    f"{persona:13} {variant:8} {url}: got {got} ({response.status_code}), "
                    f"expected {' or '.join(sorted(want))}"
                )
            if got == OK and offered and rule.probe:
                body = body_text(response)
                for text, who in hidden_from.items():
                    if persona in who and text in body:
                        failures.append(f"{persona:13} {variant:8} {url}: LEAK, the response shows “{text}”")
    return failures, cells, kind, url


@pytest.mark.parametrize("endpoint", TESTED, ids=[e.key for e in TESTED])
def test_permission_matrix(endpoint, world):
    people, objects = world
    if endpoint.key not in RULES:
        pytest.fail(classify_message([endpoint.key]), pytrace=False)
    try:
        failures, cells, kind, url = check_endpoint(endpoint, RULES[endpoint.key], people, objects)
    except LookupError as error:
        pytest.fail(str(error), pytrace=False)
    REPORT[endpoint.key] = {"kind": kind, "cells": cells, "url": url}
    if failures:
        pytest.fail(f"{endpoint.key} [{kind}]\n" + "\n".join(failures), pytrace=False)


@pytest.mark.parametrize("endpoint", TESTED, ids=[e.key for e in TESTED])
def test_permission_matrix_when_reps_see_only_their_own_deals(endpoint, world, settings):
    """With STAGEFLOW["REPS_SEE_TEAM_DEALS"] off, a teammate's deal is as hidden as another team's."""
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    people, objects = world
    if endpoint.key not in RULES:
        pytest.fail(classify_message([endpoint.key]), pytrace=False)
    try:
        failures, cells, kind, url = check_endpoint(
            endpoint, RULES[endpoint.key], people, objects, team_view=False, personas=["teammate"]
        )
    except LookupError as error:
        pytest.fail(str(error), pytrace=False)
    REPORT_OWN_ONLY[endpoint.key] = cells
    if failures:
        pytest.fail(f"{endpoint.key} [{kind}, reps see only their own deals]\n" + "\n".join(failures), pytrace=False)


def test_every_url_of_the_project_is_classified():
    missing = unclassified(ENDPOINTS)
    assert not missing, classify_message(missing)


def test_the_rules_name_no_url_that_no_longer_exists():
    stale = sorted(set(RULES) - {e.key for e in ENDPOINTS})
    assert not stale, f"RULES names URLs that no longer exist: {', '.join(stale)}; remove them."


def test_discovery_finds_nested_and_namespaced_urls():
    keys = {e.key for e in ENDPOINTS}
    assert {"login", "pipeline:board", "pipeline:deal_detail", "pipeline:deal_move", "/"} <= keys
    assert all(e.skip for e in ENDPOINTS if e.key.startswith("admin:"))
    assert len(TESTED) >= 10


def test_an_unknown_url_name_or_argument_fails_with_a_clear_message():
    new = Endpoint(key="pipeline:deal_frobnicate", route="deals/<int:pk>/frob/", name="pipeline:deal_frobnicate",
                   kwargs=("pk",), callback=None)
    assert unclassified([new]) == ["pipeline:deal_frobnicate"]
    assert "Add each to RULES" in classify_message(["pipeline:deal_frobnicate"])
    assert kwarg_objects(new, DEFAULT) == {"pk": "deal"}
    odd = Endpoint(key="pipeline:widget", route="widgets/<slug:widget_slug>/", name="pipeline:widget",
                   kwargs=("widget_slug",), callback=None)
    with pytest.raises(LookupError, match="“widget_slug”, which the permission matrix cannot fill"):
        kwarg_objects(odd, DEFAULT)
    bare = Endpoint(key="pipeline:thing", route="things/<int:pk>/", name="pipeline:thing", kwargs=("pk",), callback=None)
    with pytest.raises(LookupError):
        kwarg_objects(bare, DEFAULT)


def test_expectations_for_an_object_url():
    rows = {p: (expected(OBJECT, p, "get", is_api=False), expected(OBJECT, p, "post", is_api=False)) for p in PERSONAS}
    assert rows == {
        "anonymous": ({LOGIN}, {LOGIN}),
        "owner": ({OK}, {OK}),
        "teammate": ({OK}, {FORBIDDEN}),
        "outsider": ({HIDDEN}, {HIDDEN}),
        "manager": ({OK}, {OK}),
        "other_manager": ({HIDDEN}, {HIDDEN}),
        "admin": ({OK}, {OK}),
    }


def matrix_report_lines(verbose: bool) -> list[str]:
    """The summary (and with `verbose` the whole matrix); printed by tests/accounts/conftest.py."""
    if not REPORT:
        return []
    cases = sum(1 for row in REPORT.values() for cell in row["cells"].values() if cell != "–")
    own_only = sum(1 for cells in REPORT_OWN_ONLY.values() for cell in cells.values() if cell != "–")
    skipped = sorted({e.skip for e in ENDPOINTS if e.skip})
    lines = [
        f"permission matrix: {cases} cases over {len(REPORT)} URLs × {len(PERSONAS)} people × "
        f"{len(VARIANTS)} request kinds, and {own_only} more for a teammate when reps see only their own "
        f"deals (skipped: {'; '.join(skipped)})"
    ]
    if verbose:
        short = {"anonymous": "anon", "owner": "owner", "teammate": "mate", "outsider": "outsider",
                 "manager": "mgr", "other_manager": "other mgr", "admin": "admin"}
        lines.append("cells: GET / GET hx / POST / POST hx;  ok = allowed, login = sign-in page, – = method not offered")
        lines.append(f"{'URL name':32} {'rule':13} " + " ".join(f"{short[p]:>17}" for p in PERSONAS))
        for key in sorted(REPORT):
            row = REPORT[key]
            cells = " ".join(f"{'/'.join(row['cells'].get((p, v), '?') for v in VARIANTS):>17}" for p in PERSONAS)
            lines.append(f"{key[:32]:32} {row['kind']:13} {cells}")
    return lines


# --- The matrix can fail -----------------------------------------------------------------------------


@pytest.mark.urls("tests.accounts.leaky_urls")
def test_the_matrix_catches_views_that_leak(world):
    """Views that forget the checks (tests/accounts/leaky_urls.py) are reported, each way."""
    people, objects = world
    endpoints = {e.key: e for e in _walk(get_resolver().url_patterns)}

    failures = check_endpoint(endpoints["leaky:deal_page"], DEFAULT, people, objects)[0]
    assert any(f.startswith("outsider      GET ") and "expected 404" in f for f in failures)
    assert any(f.startswith("teammate      POST ") and "expected 403" in f for f in failures)
    assert any("LEAK" in f and NORTH_DEAL_TITLE in f for f in failures)

    failures = check_endpoint(endpoints["leaky:deal_list"], DEFAULT, people, objects)[0]
    assert failures and all("LEAK" in f for f in failures)
    assert any(f.startswith("outsider") and NORTH_DEAL_TITLE in f for f in failures)
    assert any(f.startswith("owner") and SOUTH_DEAL_TITLE in f for f in failures)

    failures = check_endpoint(endpoints["leaky:deals_xlsx"], DEFAULT, people, objects)[0]
    assert any(f.startswith("outsider") and NORTH_DEAL_TITLE in f for f in failures)  # found inside the workbook

    failures = check_endpoint(endpoints["leaky:people"], DEFAULT, people, objects)[0]
    assert any(f.startswith("owner") and SOUTH_REP_NAME in f for f in failures)
    assert any(f.startswith("outsider") and NORTH_REP_NAME in f for f in failures)

    failures = check_endpoint(endpoints["leaky:public_page"], DEFAULT, people, objects)[0]
    assert any(f.startswith("anonymous") and "expected login" in f for f in failures)

    assert check_endpoint(endpoints["leaky:careful_deal_page"], DEFAULT, people, objects)[0] == []


def test_expectations_for_configuration_and_personal_urls():
    assert expected(CONFIG, "teammate", "get", is_api=True) == {OK}
    assert expected(CONFIG, "manager", "post", is_api=True) == {FORBIDDEN}
    assert expected(CONFIG, "admin", "post", is_api=True) == {OK}
    assert expected(CONFIG, "anonymous", "get", is_api=True) == {UNAUTH, LOGIN}
    assert expected(PERSONAL, "owner", "post", is_api=False) == {OK}
    assert expected(PERSONAL, "admin", "post", is_api=False) == {HIDDEN}


def test_an_object_nobody_can_make_fails_loudly(world):
    people, objects = world
    with pytest.raises(LookupError, match="no “gizmo” to put in a URL"):
        objects["gizmo"]


# --- Notes, activities and people on a shared organisation -----------------------------------------
#
# The rule (activities.selectors, pipeline.selectors.visible_colleagues): a note or activity on a deal is
# seen with the deal; one on an organisation (a lead) is seen by whoever sees the organisation AND may
# see the deals of its author (an activity: its owner). So on an organisation both teams sell to,
# admins see everything, a manager the notes of their teams, a rep their own and (when reps see their
# team's deals) their teammates'. A note whose author was deleted is seen with the organisation. The
# users list offers the same people: admins everyone, managers their teams, reps their team or only
# themselves.

NORTH_TEXTS = (NORTH_NOTE, NORTH_ACTIVITY)
SOUTH_TEXTS = (SOUTH_NOTE, SOUTH_ACTIVITY)
SHARED_SEES = {
    "owner": NORTH_TEXTS, "teammate": NORTH_TEXTS, "manager": NORTH_TEXTS,
    "outsider": SOUTH_TEXTS, "other_manager": SOUTH_TEXTS, "admin": NORTH_TEXTS + SOUTH_TEXTS,
}


def _signed_in(person) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(person)
    return client


@pytest.mark.parametrize("persona", list(SHARED_SEES))
def test_a_shared_organisation_shows_only_notes_and_activities_of_people_whose_deals_one_sees(world, persona):
    from activities.models import Activity
    from pipeline.models import Organization

    people, _objects = world
    shared = Organization.objects.get(name=SHARED_LEAD_NAME)
    client = _signed_in(people[persona])
    page = client.get(reverse("pipeline:organization_detail", args=[shared.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    seen = {text for text in NORTH_TEXTS + SOUTH_TEXTS if text in body}
    assert seen == set(SHARED_SEES[persona])
    for title in NORTH_TEXTS[1:] + SOUTH_TEXTS[1:]:
        activity = Activity.objects.get(title=title)
        status = client.get(reverse("activities:edit", args=[activity.pk])).status_code
        assert (status != 404) == (title in SHARED_SEES[persona]), (title, status)


def test_the_page_after_adding_a_note_shows_no_other_teams_notes(world):
    from pipeline.models import Organization

    people, _objects = world
    shared = Organization.objects.get(name=SHARED_LEAD_NAME)
    response = _signed_in(people["owner"]).post(
        reverse("activities:organization_note_create", args=[shared.pk]), {"body": "Called their office"}, follow=True,
    )
    body = response.content.decode()
    assert response.status_code == 200 and "Called their office" in body and NORTH_NOTE in body
    assert not any(text in body for text in SOUTH_TEXTS)


def test_without_team_view_a_rep_sees_only_their_own_notes_on_a_shared_organisation(world, settings):
    from activities.models import Note
    from activities.selectors import visible_notes
    from pipeline.models import Organization

    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    people, _objects = world
    shared = Organization.objects.get(name=SHARED_LEAD_NAME)
    DealFactory(owner=people["teammate"], organization=shared, stage=world[1]["stage"], title="Tom's shared deal")
    Note.objects.create(organization=shared, author=None, body="Imported remark")
    teammates_note = Note.objects.create(organization=shared, author=people["teammate"], body="Tom's own")
    seen = set(visible_notes(people["teammate"]).filter(organization=shared).values_list("body", flat=True))
    assert seen == {teammates_note.body, "Imported remark"}


def test_a_note_of_a_person_who_left_stays_visible_to_their_team(world):
    from activities.selectors import visible_notes
    from pipeline.models import Organization

    people, _objects = world
    people["owner"].is_active = False
    people["owner"].save()
    shared = Organization.objects.get(name=SHARED_LEAD_NAME)
    assert visible_notes(people["teammate"]).filter(organization=shared, body=NORTH_NOTE).exists()
    assert not visible_notes(people["outsider"]).filter(organization=shared, body=NORTH_NOTE).exists()


USERS_SEEN = {  # who is listed by the API's users endpoint, per caller (the world has no other people)
    "owner": {"rita", "tom", "max"},
    "teammate": {"rita", "tom", "max"},
    "manager": {"rita", "tom", "max"},
    "outsider": {"olga", "sam"},
    "other_manager": {"olga", "sam"},
    "admin": {"rita", "tom", "max", "olga", "sam", "ada", "nina", "ivan"},
}


@pytest.mark.parametrize("persona", list(USERS_SEEN))
def test_the_users_endpoint_lists_only_people_whose_deals_the_caller_sees(world, persona):
    people, _objects = world
    UserFactory(username="nina", role="rep", team=None)  # in no team
    UserFactory(username="ivan", role="rep", team=TeamFactory(name="East"))
    client = _signed_in(people[persona])
    listed = {row["username"] for row in client.get("/api/v1/users/?page_size=200").json()["results"]}
    assert listed == USERS_SEEN[persona]
    for other in ("olga", "rita", "ada"):
        pk = next(p.pk for p in people.values() if p.username == other)
        status = client.get(f"/api/v1/users/{pk}/").status_code
        assert (status == 200) == (other in USERS_SEEN[persona]), (other, status)


def test_without_team_view_a_rep_is_listed_only_themselves(world, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": False}
    people, _objects = world
    listed = {row["username"] for row in _signed_in(people["teammate"]).get("/api/v1/users/").json()["results"]}
    assert listed == {"tom"}
