"""Demo data: users in two teams, realistic leads and deals with 18 months of history.

`seed_demo(deals=N, seed=S)` is deterministic: the same seed, the same `now` and the same
pipeline configuration give the same rows (apart from primary keys and `updated_at`).

The history is simulated deal by deal (stage durations, conversion rates, skips, backward
moves, losses with reasons, a few reopenings, amount and close-date changes) and then written in
bulk through `pipeline.events`, the one writer of each kind of history row. The deals are written
as the services would have left them after replaying that history: `stage_entered_at` is the time
of the last move (or reopening), `closed_at` the time of winning or losing, `version` counts the
writes. Replaying thousands of moves through `deal_move` would take minutes for 10,000 deals.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Role, Team
from accounts.services import user_role_group_sync

from . import events
from .models import CompanySize, Deal, DealField, DealStatus, ForecastCategory, Organization, LeadSource, LostReason, Pipeline, StageKind
from .organizations import organizations_bulk_import
from .services import allowed_target_ids
from .signals import deals_changed

# --- The demo organisation -------------------------------------------------------------------

# Documented in README.md. It passes Django's password validators for every demo user.
DEMO_PASSWORD = "stageflow-demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    team: str | None
    share: int  # relative share of the deals this person owns


DEMO_TEAMS = ("North", "South")
DEMO_USERS = (
    DemoUser("admin", "Ada", "Brandt", Role.ADMIN, None, 0),
    DemoUser("maria", "Maria", "Berger", Role.MANAGER, "North", 4),
    DemoUser("markus", "Markus", "Schneider", Role.MANAGER, "South", 4),
    DemoUser("rita", "Rita", "Hoffmann", Role.REP, "North", 24),
    DemoUser("ralf", "Ralf", "Becker", Role.REP, "North", 22),
    DemoUser("sofia", "Sofia", "Lange", Role.REP, "South", 24),
    DemoUser("sven", "Sven", "Krüger", Role.REP, "South", 22),
)

HISTORY_DAYS = 548  # 18 months
BATCH_SIZE = 1000

# --- The simulated sales process, by open stage (Prospecting … Negotiation) -------------------

# Chance that a deal leaves the stage forwards; the rest is lost (or, rarely, moves back).
ADVANCE = (0.74, 0.70, 0.68, 0.70, 0.66)
# Median days a deal spends in the stage before the next event.
MEDIAN_DAYS = (8, 12, 16, 14, 21)
SKIP_CHANCE = 0.07  # a forward move that jumps over one stage
BACKWARD_CHANCE = 0.06  # from Meeting onwards: back one stage (once per deal)
STALL_CHANCE = 0.10  # the deal sits three times as long: rotting cards on the board
REOPEN_CHANCE = 0.04  # a lost deal comes back a few weeks later
MANAGER_ACTS_CHANCE = 0.08

# Lost reasons by the default order: price, competitor, no budget, no decision, timing, fit, not qualified.
LOST_WEIGHTS_EARLY = (3, 5, 20, 20, 15, 10, 27)
LOST_WEIGHTS_MIDDLE = (10, 15, 15, 20, 15, 20, 5)
LOST_WEIGHTS_LATE = (30, 30, 8, 15, 10, 5, 2)

LOCALES = (("de_DE", 60), ("en_GB", 20), ("en_US", 20))
COUNTRIES = {
    "de_DE": (("DE", 75), ("AT", 15), ("CH", 10)),
    "en_GB": (("GB", 85), ("IE", 15)),
    "en_US": (("US", 90), ("CA", 10)),
}
DOMAINS = {"DE": "de", "AT": "at", "CH": "ch", "GB": "co.uk", "IE": "ie", "US": "com", "CA": "ca"}
INDUSTRIES = (
    "Software", "Mechanical engineering", "Automotive supplier", "Logistics", "Retail", "E-commerce",
    "Healthcare", "Financial services", "Insurance", "Energy", "Construction", "Education", "Media",
    "Consulting", "Public sector", "Telecommunications", "Food & beverage", "Pharmaceuticals", "Tourism",
    "Chemicals",
)
SIZES = (
    (CompanySize.S1, 12, (3, 10)),
    (CompanySize.S2, 30, (8, 45)),
    (CompanySize.S3, 28, (25, 150)),
    (CompanySize.S4, 20, (60, 500)),
    (CompanySize.S5, 10, (150, 1200)),
)
SOURCES = (
    (LeadSource.REFERRAL, 15), (LeadSource.EVENT, 12), (LeadSource.SOCIAL, 14), (LeadSource.INBOUND, 10),
    (LeadSource.WEBINAR, 12), (LeadSource.CASE_STUDY, 8), (LeadSource.EBOOK, 9), (LeadSource.COLD, 15),
    (LeadSource.OTHER, 5),
)
LEGAL_SUFFIXES = {
    "de_DE": (" GmbH", " AG", " KG", " GmbH & Co. KG"),
    "en_GB": (" Ltd", " PLC", " & Sons"),
    "en_US": (" Inc", " LLC", " Group"),
}
LEGAL_FORMS = {
    "gmbh", "co", "kg", "kgaa", "ag", "ev", "ohg", "gbr", "se", "inc", "ltd", "plc", "llc", "and", "group", "sons",
}
NEXT_STEPS = (
    ("Call {contact} to qualify budget and timing", "Connect with {contact} on LinkedIn",
     "Send the case study to {contact}", "Invite {contact} to the next webinar"),
    ("Check fit against the ideal customer profile", "Discovery call with {contact}",
     "Ask {contact} who else decides", "Send the e-book and follow up"),
    ("Demo for the IT team", "Book the product demo with {contact}", "Collect requirements after the demo",
     "Second meeting with the department heads"),
    ("Follow up on the proposal with {contact}", "Walk {contact} through the offer",
     "Send the revised proposal", "Clarify the rollout plan in the offer"),
    ("Negotiate the discount with procurement", "Send the contract for signature",
     "Answer the legal team's questions", "Agree on the payment terms with {contact}"),
)
_CLOSED_CATEGORY = {DealStatus.WON: ForecastCategory.CLOSED, DealStatus.LOST: ForecastCategory.OMITTED}
WON_NEXT_STEPS = ("Kick-off and onboarding", "Schedule the training", "Ask {contact} for a referral",
                  "Quarterly review: upsell options")


@dataclass
class SeedResult:
    users: dict
    organizations: int = 0
    people: int = 0
    deals: int = 0
    stage_changes: int = 0
    deal_changes: int = 0
    by_status: dict = field(default_factory=dict)
    seconds: float = 0.0


# --- Users -----------------------------------------------------------------------------------


def demo_users_ensure() -> dict:
    """Create the demo teams and users that are missing; existing users are left as they are."""
    User = get_user_model()
    teams = {name: Team.objects.get_or_create(name=name)[0] for name in DEMO_TEAMS}
    users = {u.username: u for u in User.objects.filter(username__in=[d.username for d in DEMO_USERS])}
    # One hash for all demo users: hashing is deliberately slow and these accounts share a password.
    password_hash = None
    for spec in DEMO_USERS:
        if spec.username in users:
            continue
        user = User(
            username=spec.username,
            first_name=spec.first_name,
            last_name=spec.last_name,
            email=f"{spec.username}@example.com",
            role=spec.role,
            team=teams[spec.team] if spec.team else None,
            is_staff=spec.role == Role.ADMIN,
            is_superuser=spec.role == Role.ADMIN,
        )
        validate_password(DEMO_PASSWORD, user)
        password_hash = password_hash or make_password(DEMO_PASSWORD)
        user.password = password_hash
        user.save()
        user_role_group_sync(user=user)  # the role's group carries its model permissions
        users[spec.username] = user
    for spec in DEMO_USERS:
        if spec.role == Role.MANAGER and spec.team:
            team = teams[spec.team]
            if team.manager_id is None:
                team.manager = users[spec.username]
                team.save(update_fields=["manager"])
    return users


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(username, role, team, password) of the demo users present in the database."""
    User = get_user_model()
    present = {u.username: u for u in User.objects.select_related("team").filter(
        username__in=[d.username for d in DEMO_USERS], is_active=True
    )}
    rows = []
    for spec in DEMO_USERS:
        user = present.get(spec.username)
        if user:
            rows.append((user.username, user.get_role_display(), user.team.name if user.team else "", DEMO_PASSWORD))
    return rows


# --- Helpers ---------------------------------------------------------------------------------


def _weighted(rng: random.Random, pairs):
    values = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _at_business_time(rng: random.Random, day: date) -> datetime:
    """A time during office hours (UTC) on `day`, or on the Monday after when it is a weekend."""
    if day.weekday() >= 5:
        day += timedelta(days=7 - day.weekday())
    minute = rng.randrange(7 * 60, 18 * 60)
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=dt_timezone.utc)


def _days(rng: random.Random, median: float, stalled: bool) -> int:
    days = rng.lognormvariate(math.log(median), 0.55)
    if stalled:
        days *= 3
    return max(1, round(days))


def _money(value: float, step: int = 10) -> Decimal:
    return (Decimal(round(value / step) * step)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- Leads -----------------------------------------------------------------------------------


def _make_fakers(seed: int) -> dict:
    from faker import Faker

    fakers = {}
    for offset, (locale, _weight) in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 31 + offset)
        fakers[locale] = fake
    return fakers


def _organization_spec(rng: random.Random, fakers: dict) -> dict:
    locale = _weighted(rng, LOCALES)
    fake = fakers[locale]
    country = _weighted(rng, COUNTRIES[locale])
    name = fake.company()
    if " " not in name:  # a bare family name: give it the legal form a real company would have
        name += rng.choice(LEGAL_SUFFIXES[locale])
    words = [w for w in slugify(name).split("-") if w and w not in LEGAL_FORMS]
    domain = f"{'-'.join(words[:2]) or 'company'}.{DOMAINS[country]}"
    first, last = fake.first_name(), fake.last_name()
    mailbox = ".".join(p for p in (slugify(first), slugify(last)) if p) or "info"
    size, _w, seats = _weighted(rng, [((s, w, r), w) for s, w, r in SIZES])
    return {
        "locale": locale,
        "domain": domain,
        "name": name[:200],
        "industry": rng.choice(INDUSTRIES),
        "company_size": size,
        "country": country,
        "website": f"https://www.{domain}",
        "source": _weighted(rng, SOURCES),
        "contact_name": f"{first} {last}",
        "contact_email": f"{mailbox}@{domain}",
        "contact_phone": fake.phone_number()[:50],
        "seats": seats,
    }


# An organisation's main contact, in the organisation's spec: it becomes a Person.
CONTACT_KEYS = ("contact_name", "contact_email", "contact_phone")


def _currency(rng: random.Random, country: str) -> str:
    if country in ("US", "CA"):
        return "USD" if rng.random() < 0.85 else "EUR"
    if country == "CH":
        return "CHF" if rng.random() < 0.8 else "EUR"
    return "EUR"


RATES = {"EUR": 1.0, "USD": 1.08, "CHF": 0.95}


def _offer(rng: random.Random, organization: dict, repeat: bool) -> tuple[str, float]:
    """A deal title and its value in EUR."""
    low, high = organization["seats"]
    seats = rng.randint(low, high)
    per_seat = rng.choice((360, 480, 600, 720, 900, 1080))
    if repeat:
        kind = rng.choices(("expansion", "renewal", "services"), weights=(5, 3, 2))[0]
    else:
        kind = rng.choices(("subscription", "pilot", "services", "integration"), weights=(60, 15, 12, 13))[0]
    if kind == "subscription":
        label = "Enterprise licence" if seats >= 200 else "Annual subscription"
        return f"{label}, {seats} seats", seats * per_seat
    if kind == "expansion":
        extra = max(2, seats // 3)
        return f"Team expansion, +{extra} seats", extra * per_seat
    if kind == "renewal":
        return f"Renewal with {seats} seats", seats * per_seat * 0.9
    if kind == "pilot":
        return "Pilot project", rng.uniform(4000, 20000)
    if kind == "integration":
        return rng.choice(("Integration package", "Data migration", "ERP integration")), rng.uniform(8000, 60000)
    return rng.choice(("Onboarding & training", "Support upgrade", "Consulting days")), rng.uniform(2500, 25000)


# --- The simulation --------------------------------------------------------------------------


@dataclass
class _Event:
    at: datetime
    from_idx: int | None  # index into the stage list; None for the creation
    to_idx: int
    from_status: str
    to_status: str
    actor: str
    previous_since: datetime | None
    lost_reason: int | None = None


@dataclass
class _DealSim:
    organization: int
    owner: str
    title: str
    currency: str
    amount: Decimal | None
    expected_close: date | None
    created_at: datetime
    contact: str = ""
    stage_idx: int = 0
    status: str = DealStatus.OPEN
    stage_entered_at: datetime | None = None
    closed_at: datetime | None = None
    lost_reason: int | None = None
    next_step: str = ""
    events: list = field(default_factory=list)
    changes: list = field(default_factory=list)  # (at, field, old, new, actor)


class _Simulator:
    def __init__(self, *, rng, stages, allowed, lost_reasons, now, managers):
        self.rng = rng
        self.stages = stages
        self.open_idx = [i for i, s in enumerate(stages) if s.kind == StageKind.OPEN]
        self.won_idx = next((i for i, s in enumerate(stages) if s.kind == StageKind.WON), None)
        self.allowed = allowed  # stage index -> set of stage indexes a deal may move to
        self.lost_reasons = lost_reasons
        self.now = now
        self.managers = managers  # owner username -> manager username

    def _param(self, table, idx, default):
        position = self.open_idx.index(idx) if idx in self.open_idx else len(table) - 1
        return table[position] if position < len(table) else default

    def _actor(self, owner: str) -> str:
        manager = self.managers.get(owner)
        if manager and self.rng.random() < MANAGER_ACTS_CHANCE:
            return manager
        return owner

    def _lost_reason(self, idx: int) -> int:
        reasons = self.lost_reasons
        if len(reasons) == len(LOST_WEIGHTS_EARLY):
            position = self.open_idx.index(idx) if idx in self.open_idx else 0
            weights = LOST_WEIGHTS_EARLY if position <= 1 else LOST_WEIGHTS_MIDDLE if position == 2 else LOST_WEIGHTS_LATE
            return self.rng.choices(reasons, weights=weights)[0]
        return self.rng.choice(reasons)

    def _next_forward(self, idx: int) -> int | None:
        """The stage a deal moves to when it advances: the next one, sometimes one further."""
        later = [i for i in self.open_idx if i > idx]
        if self.won_idx is not None:
            later.append(self.won_idx)
        later = [i for i in later if i in self.allowed[idx]]
        if not later:
            return None
        if len(later) > 2 and self.stages[later[1]].kind == StageKind.OPEN and self.rng.random() < SKIP_CHANCE:
            return later[1]
        return later[0]

    def _previous(self, idx: int) -> int | None:
        earlier = [i for i in self.open_idx if i < idx and i in self.allowed[idx]]
        return earlier[-1] if earlier else None

    def _change(self, deal: _DealSim, at: datetime, name: str, new, actor: str) -> None:
        old = getattr(deal, name)
        if old == new:
            return
        deal.changes.append((at, name, _as_text(old), _as_text(new), actor))
        setattr(deal, name, new)

    def _close_date_kept_current(self, deal: _DealSim, at: datetime, actor: str) -> None:
        """Reps push a close date that has passed into the future, as they do in real pipelines."""
        if deal.expected_close and deal.expected_close < at.date() and self.rng.random() < 0.85:
            change_at = at - timedelta(minutes=self.rng.randint(5, 90))
            if change_at > deal.stage_entered_at:
                new = at.date() + timedelta(days=self.rng.randint(14, 60))
                self._change(deal, change_at, "expected_close", new, actor)

    def run(self, deal: _DealSim, value_eur: float) -> None:
        rng = self.rng
        start = self.open_idx[0] if (rng.random() < 0.85 or len(self.open_idx) < 2) else self.open_idx[1]
        deal.stage_idx = start
        deal.stage_entered_at = deal.created_at
        deal.events.append(_Event(deal.created_at, None, start, "", DealStatus.OPEN, deal.owner, None))
        went_back = reopened = False
        while True:
            idx = deal.stage_idx
            stalled = rng.random() < STALL_CHANCE
            days = _days(rng, self._param(MEDIAN_DAYS, idx, 10), stalled)
            at = _at_business_time(rng, deal.stage_entered_at.date() + timedelta(days=days))
            if at > self.now:
                break  # still open in this stage today
            actor = self._actor(deal.owner)
            roll = rng.random()
            advance = self._param(ADVANCE, idx, 0.7)
            target = None
            if roll < advance:
                target = self._next_forward(idx)
            elif not went_back and self.open_idx.index(idx) >= 2 and roll < advance + BACKWARD_CHANCE:
                target = self._previous(idx)
                went_back = target is not None
            if target is not None:
                self._before_move(deal, at, target, value_eur, actor)
                self._move(deal, at, target, actor)
                if deal.status == DealStatus.WON:
                    break
                continue
            # Lost, with a reason that fits the stage.
            self._close_date_kept_current(deal, at, actor)
            reason = self._lost_reason(idx)
            deal.events.append(
                _Event(at, idx, idx, DealStatus.OPEN, DealStatus.LOST, actor, deal.stage_entered_at, reason)
            )
            deal.status, deal.lost_reason, deal.closed_at = DealStatus.LOST, reason, at
            reopen_at = _at_business_time(rng, at.date() + timedelta(days=rng.randint(20, 90)))
            if not reopened and reopen_at <= self.now and rng.random() < REOPEN_CHANCE:
                reopened = True
                deal.events.append(
                    _Event(reopen_at, idx, idx, DealStatus.LOST, DealStatus.OPEN, deal.owner, None)
                )
                deal.status, deal.lost_reason, deal.closed_at = DealStatus.OPEN, None, None
                deal.stage_entered_at = reopen_at
                continue
            break
        self._finish(deal)

    def _before_move(self, deal: _DealSim, at: datetime, target: int, value_eur: float, actor: str) -> None:
        """Field changes a rep makes before a move: the amount once it is known, revisions, discounts."""
        rng = self.rng
        change_at = at - timedelta(minutes=rng.randint(5, 120))
        if change_at <= deal.stage_entered_at:
            change_at = deal.stage_entered_at + (at - deal.stage_entered_at) / 2
        position = self.open_idx.index(target) if target in self.open_idx else len(self.open_idx)
        if deal.amount is None and position >= 2:
            self._change(deal, change_at, "amount", _money(value_eur * RATES[deal.currency]), actor)
        elif deal.amount is not None and position == 3 and rng.random() < 0.3:
            factor = rng.uniform(0.8, 1.25)
            self._change(deal, change_at, "amount", _money(float(deal.amount) * factor), actor)
        elif deal.amount is not None and target == self.won_idx and rng.random() < 0.45:
            discount = rng.uniform(0.03, 0.15)
            self._change(deal, change_at, "amount", _money(float(deal.amount) * (1 - discount)), actor)
        if target == self.won_idx and deal.expected_close and rng.random() < 0.5:
            self._change(deal, change_at, "expected_close", at.date(), actor)
        else:
            self._close_date_kept_current(deal, at, actor)

    def _move(self, deal: _DealSim, at: datetime, target: int, actor: str) -> None:
        won = target == self.won_idx
        to_status = DealStatus.WON if won else DealStatus.OPEN
        deal.events.append(_Event(at, deal.stage_idx, target, deal.status, to_status, actor, deal.stage_entered_at))
        deal.stage_idx, deal.status, deal.stage_entered_at = target, to_status, at
        if won:
            deal.closed_at = at

    def _finish(self, deal: _DealSim) -> None:
        rng = self.rng
        contact = deal.contact or "the contact"
        if deal.status == DealStatus.OPEN:
            position = self.open_idx.index(deal.stage_idx)
            steps = NEXT_STEPS[min(position, len(NEXT_STEPS) - 1)]
            deal.next_step = rng.choice(steps).format(contact=contact)
            # Most reps keep the close date current; some cards stay overdue.
            if deal.expected_close and deal.expected_close < self.now.date() and rng.random() < 0.7:
                change_at = self.now - timedelta(days=rng.randint(0, 3), minutes=rng.randint(1, 600))
                if change_at > deal.stage_entered_at:
                    new = self.now.date() + timedelta(days=rng.randint(7, 75))
                    self._change(deal, change_at, "expected_close", new, deal.owner)
        elif deal.status == DealStatus.WON:
            # As pipeline.services does on a win: the deal closed the day it was won. The next
            # step is the one the rep wrote after the win (onboarding, referral).
            self._change(deal, deal.closed_at, "expected_close", deal.closed_at.date(), deal.owner)
            deal.next_step = rng.choice(WON_NEXT_STEPS).format(contact=contact)
        else:
            deal.next_step = ""


# --- People at the organisations and their roles on the deals ----------------------------------

# (job title, the role they usually play on a deal)
JOBS = (
    ("Managing Director", "Decision maker"),
    ("Chief Financial Officer", "Economic buyer"),
    ("Head of Sales", "Champion"),
    ("Sales Operations Manager", "Champion"),
    ("IT Manager", "Influencer"),
    ("Procurement Lead", "Economic buyer"),
    ("Account Executive", "User"),
    ("Data Protection Officer", "Blocker"),
    ("Team Lead Inside Sales", "User"),
)
CONSENT_SOURCES = ("web form", "signed order", "trade fair", "phone call")


def _people_seed(rng: random.Random, fakers: dict, specs: list[dict], organizations: list[Organization],
                 sims: list, deals: list[Deal], *, now: datetime) -> int:
    """Two to five people at each organisation (its main contact and one to four more, with job
    titles, e-mail, phone, language and consent) and each deal's contacts in roles: the main
    contact as the champion, one to three others as what their job makes them. Returns how many
    people were created besides the main contacts."""
    from .models import Consent, ContactRole, DealContact, Person, PhoneKind
    from .people import PersonRow, PhoneValue, deal_contacts_bulk_create, people_bulk_import

    roles = dict(ContactRole.objects.values_list("name", "pk"))
    main_contacts = dict(
        Person.objects.filter(organization__in=organizations).values_list("organization_id", "pk")
    )
    rows = []
    people_of: dict[int, list[tuple[Person, str]]] = {}
    for spec, organization in zip(specs, organizations):
        fake = fakers[spec["locale"]]
        language = "de" if spec["locale"].startswith("de") else "en"
        jobs = rng.sample(JOBS, rng.randint(1, 4))
        for job, role in jobs:
            first, last = fake.first_name(), fake.last_name()
            mailbox = ".".join(part for part in (slugify(first), slugify(last)) if part) or "info"
            person = Person(
                name=f"{first} {last}", organization=organization, owner_id=organization.owner_id, job_title=job,
                language=language, created_at=organization.created_at + timedelta(days=rng.randint(0, 60)),
            )
            if person.created_at > now:
                person.created_at = now
            if rng.random() < 0.6:
                person.consent = Consent.GRANTED
                person.consent_source = rng.choice(CONSENT_SOURCES)
                person.consent_at = person.created_at
            phones = [fake.phone_number()[:50]]
            if rng.random() < 0.3:
                phones.append(PhoneValue(fake.phone_number()[:50], PhoneKind.MOBILE))
            rows.append(PersonRow(person, emails=[f"{mailbox}@{spec['domain']}"], phones=phones))
            people_of.setdefault(organization.pk, []).append((person, role))
    people_bulk_import(rows=rows, actor=None, actor_label="seed_demo", batch_size=BATCH_SIZE)
    # The main contacts get a job and language too.
    locale_of = {organization.pk: spec["locale"] for spec, organization in zip(specs, organizations)}
    mains = list(Person.objects.filter(pk__in=main_contacts.values()).order_by("pk"))
    for person in mains:
        person.job_title = rng.choice(("Head of Sales", "Sales Director", "Head of Revenue Operations"))
        person.language = "de" if locale_of[person.organization_id].startswith("de") else "en"
    Person.objects.bulk_update(mains, ["job_title", "language"], batch_size=BATCH_SIZE)

    contacts = []
    for sim, deal in zip(sims, deals):
        organization = organizations[sim.organization]
        main = main_contacts.get(organization.pk)
        if main is not None:
            contacts.append(DealContact(deal=deal, person_id=main, role_id=roles.get("Champion"), created_at=deal.created_at))
        others = people_of.get(organization.pk, [])
        for person, role in rng.sample(others, min(len(others), rng.randint(1, 3))):
            contacts.append(DealContact(deal=deal, person=person, role_id=roles.get(role), created_at=deal.created_at))
    deal_contacts_bulk_create(contacts=contacts, batch_size=BATCH_SIZE)
    return len(rows)


# --- Seeding ---------------------------------------------------------------------------------


def seed_demo(*, deals: int, seed: int, now: datetime | None = None, pipeline: Pipeline | None = None) -> SeedResult:
    """Create the demo users and `deals` deals with their leads and history in the default pipeline."""
    started = time.perf_counter()
    now = now or timezone.now().replace(minute=0, second=0, microsecond=0)
    pipeline = pipeline or Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
    if pipeline is None:
        raise ValueError("There is no pipeline to seed; run the migrations first.")
    stages = list(pipeline.stages.order_by("position", "pk"))
    if not any(s.kind == StageKind.OPEN for s in stages):
        raise ValueError(f"Pipeline “{pipeline}” has no open stage.")
    stage_pos = {s.pk: i for i, s in enumerate(stages)}
    allowed = {stage_pos[src]: {stage_pos[t] for t in targets} for src, targets in
               allowed_target_ids(pipeline=pipeline).items()}
    lost_reasons = list(LostReason.objects.filter(is_active=True).order_by("position", "pk").values_list("pk", flat=True))
    if not lost_reasons:
        raise ValueError("There are no active lost reasons.")

    rng = random.Random(seed)
    fakers = _make_fakers(seed)

    with transaction.atomic():
        users = demo_users_ensure()
        user_ids = {name: u.pk for name, u in users.items()}
        owners = [(d.username, d.share) for d in DEMO_USERS if d.share]
        managers = {d.username: next(m.username for m in DEMO_USERS if m.role == Role.MANAGER and m.team == d.team)
                    for d in DEMO_USERS if d.role == Role.REP}
        simulator = _Simulator(rng=rng, stages=stages, allowed=allowed, lost_reasons=lost_reasons, now=now,
                               managers=managers)

        organization_count = max(1, round(deals * 0.8)) if deals else 0
        organizations = [_organization_spec(rng, fakers) for _ in range(organization_count)]
        organization_owner = [_weighted(rng, owners) for _ in organizations]
        sims: list[_DealSim] = []
        for i in range(deals):
            repeat = i >= organization_count
            organization_no = rng.randrange(organization_count) if repeat else i
            organization = organizations[organization_no]
            owner = organization_owner[organization_no] if rng.random() < 0.9 else _weighted(rng, owners)
            title, value_eur = _offer(rng, organization, repeat)
            currency = _currency(rng, organization["country"])
            # More deals in recent months: the business grows.
            days_ago = HISTORY_DAYS * rng.random() ** 1.7
            created_at = _at_business_time(rng, (now - timedelta(days=days_ago)).date())
            if created_at > now:
                created_at = now - timedelta(minutes=rng.randint(1, 60))
            has_amount = rng.random() < 0.7
            sim = _DealSim(
                organization=organization_no,
                owner=owner,
                title=title,
                currency=currency,
                amount=_money(value_eur * RATES[currency]) if has_amount else None,
                expected_close=(created_at + timedelta(days=rng.randint(30, 110))).date(),
                created_at=created_at,
                contact=organization["contact_name"].split(" ")[0],
            )
            simulator.run(sim, value_eur)
            sims.append(sim)

        # Leads exist before their first deal.
        first_deal_at: dict[int, datetime] = {}
        first_won_at: dict[int, datetime] = {}  # customers since their first win, as deal_move marks them
        for sim in sims:
            if sim.organization not in first_deal_at or sim.created_at < first_deal_at[sim.organization]:
                first_deal_at[sim.organization] = sim.created_at
            if sim.status == DealStatus.WON and sim.closed_at is not None:
                if sim.organization not in first_won_at or sim.closed_at < first_won_at[sim.organization]:
                    first_won_at[sim.organization] = sim.closed_at
        organization_rows = []
        for no, spec in enumerate(organizations):
            first = first_deal_at.get(no, now)
            organization_rows.append(Organization(
                **{k: v for k, v in spec.items() if k not in ("seats", "locale", "domain", *CONTACT_KEYS)},
                owner_id=user_ids[organization_owner[no]],
                created_at=first - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600)),
                customer_since=timezone.localdate(first_won_at[no]) if no in first_won_at else None,
            ))
        organizations_bulk_import(
            organizations=organization_rows, actor=None, actor_label="seed_demo", batch_size=BATCH_SIZE,
            contacts=[{key.removeprefix("contact_"): spec[key] for key in CONTACT_KEYS} for spec in organizations],
        )

        deal_rows = []
        for sim in sims:
            versions = len(sim.events) + len({c[0] for c in sim.changes})
            deal_rows.append(Deal(
                pipeline_id=pipeline.pk,
                stage_id=stages[sim.stage_idx].pk,
                organization_id=organization_rows[sim.organization].pk,
                title=sim.title,
                amount=sim.amount,
                currency=sim.currency,
                expected_close=sim.expected_close,
                status=sim.status,
                owner_id=user_ids[sim.owner],
                lost_reason_id=sim.lost_reason,
                next_step=sim.next_step,
                forecast_category=_CLOSED_CATEGORY.get(sim.status, ForecastCategory.PIPELINE),
                stage_entered_at=sim.stage_entered_at,
                closed_at=sim.closed_at,
                created_at=sim.created_at,
                version=versions,
            ))
        Deal.objects.bulk_create(deal_rows, batch_size=BATCH_SIZE)

        def stage_events():
            for sim, row in zip(sims, deal_rows):
                for e in sim.events:
                    yield events.StageChangeEvent(
                        deal_id=row.pk,
                        from_stage_id=stages[e.from_idx].pk if e.from_idx is not None else None,
                        to_stage_id=stages[e.to_idx].pk,
                        from_status=e.from_status,
                        to_status=e.to_status,
                        at=e.at,
                        actor_id=user_ids[e.actor],
                        previous_since=e.previous_since,
                        lost_reason_id=e.lost_reason,
                    )

        fields = {"amount": DealField.AMOUNT, "expected_close": DealField.EXPECTED_CLOSE}

        def deal_events():
            for sim, row in zip(sims, deal_rows):
                for at, name, old, new, actor in sim.changes:
                    yield events.DealChangeEvent(
                        deal_id=row.pk, field=fields[name], old_value=old, new_value=new, at=at, actor_id=user_ids[actor]
                    )

        stage_change_count = events.stage_changes_bulk_record(stage_events())
        deal_change_count = events.deal_changes_bulk_record(deal_events())

        people_count = _people_seed(
            random.Random(f"{seed}-people"), fakers, organizations, organization_rows, sims, deal_rows, now=now
        )

        deal_ids = {row.pk for row in deal_rows}
        if deal_ids:
            deals_changed.publish(pipeline_ids=[pipeline.pk], deal_ids=sorted(deal_ids), kind="created")

    by_status: dict[str, int] = {}
    for sim in sims:
        by_status[sim.status] = by_status.get(sim.status, 0) + 1
    return SeedResult(
        users=users,
        organizations=len(organization_rows),
        people=people_count,
        deals=len(deal_rows),
        stage_changes=stage_change_count,
        deal_changes=deal_change_count,
        by_status=by_status,
        seconds=time.perf_counter() - started,
    )
