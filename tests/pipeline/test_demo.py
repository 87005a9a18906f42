"""Demo data: deterministic, consistent history, plausible numbers, and the two commands."""
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F, Q

from accounts.models import Role, Team
from pipeline.demo import DEMO_PASSWORD, HISTORY_DAYS, seed_demo
from pipeline.models import Deal, DealChange, DealStatus, Organization, StageChange, StageKind, Transition

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=dt_timezone.utc)


def snapshot():
    """Everything the seed wrote, without primary keys (deals and leads by creation order)."""
    organization_no = {pk: n for n, pk in enumerate(Organization.objects.order_by("pk").values_list("pk", flat=True))}
    deal_no = {pk: n for n, pk in enumerate(Deal.objects.order_by("pk").values_list("pk", flat=True))}
    organizations = [
        tuple(row[1:]) for row in Organization.objects.order_by("pk").values_list(
            "pk", "name", "industry", "company_size", "country", "website", "source", "main_contact__name",
            "main_contact__email", "main_contact__phone", "owner__username", "created_at",
        )
    ]
    deals = [
        (organization_no[row[0]], *row[1:]) for row in Deal.objects.order_by("pk").values_list(
            "organization_id", "title", "amount", "currency", "expected_close", "stage__name", "status", "owner__username",
            "lost_reason__name", "next_step", "stage_entered_at", "closed_at", "created_at", "version",
        )
    ]
    stage_changes = [
        (deal_no[row[0]], *row[1:]) for row in StageChange.objects.order_by("pk").values_list(
            "deal_id", "from_stage__name", "to_stage__name", "from_status", "to_status", "actor__username", "at",
            "time_in_previous", "lost_reason__name",
        )
    ]
    deal_changes = [
        (deal_no[row[0]], *row[1:]) for row in DealChange.objects.order_by("pk").values_list(
            "deal_id", "field", "old_value", "new_value", "actor__username", "at",
        )
    ]
    return organizations, deals, stage_changes, deal_changes


def remove_deals():
    StageChange.objects.all().delete()
    DealChange.objects.all().delete()
    Deal.objects.all().delete()
    Organization.objects.all().delete()


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(pipeline):
    seed_demo(deals=80, seed=7, now=NOW)
    first = snapshot()
    remove_deals()
    seed_demo(deals=80, seed=7, now=NOW)
    assert snapshot() == first
    remove_deals()
    seed_demo(deals=80, seed=8, now=NOW)
    assert snapshot()[1] != first[1]


def test_demo_users_have_documented_names_roles_teams_and_password(pipeline):
    seed_demo(deals=10, seed=1, now=NOW)
    users = {u.username: u for u in get_user_model().objects.select_related("team")}
    assert set(users) == {"admin", "maria", "markus", "rita", "ralf", "sofia", "sven"}
    admin = users["admin"]
    assert admin.is_superuser and admin.is_staff and admin.role == Role.ADMIN
    expected = {"maria": ("manager", "North"), "markus": ("manager", "South"), "rita": ("rep", "North"),
                "ralf": ("rep", "North"), "sofia": ("rep", "South"), "sven": ("rep", "South")}
    assert {name: (users[name].role, users[name].team.name) for name in expected} == expected
    assert {t.name: t.manager.username for t in Team.objects.all()} == {"North": "maria", "South": "markus"}
    assert all(u.check_password(DEMO_PASSWORD) for u in users.values())
    assert not any(u.is_staff for name, u in users.items() if name != "admin")


def test_seeding_again_adds_deals_but_keeps_existing_users(pipeline):
    seed_demo(deals=10, seed=1, now=NOW)
    rita = get_user_model().objects.get(username="rita")
    rita.set_password("a-changed-password")
    rita.save()
    seed_demo(deals=10, seed=2, now=NOW)
    assert Deal.objects.count() == 20
    assert get_user_model().objects.count() == 7
    rita.refresh_from_db()
    assert rita.check_password("a-changed-password")


@pytest.fixture
def seeded(pipeline):
    seed_demo(deals=400, seed=42, now=NOW)
    return pipeline


def _value_at(changes, current, at):
    """The field's value at `at`, replayed from the DealChange chain (old → new)."""
    value = changes[0].old_value if changes else current
    for change in changes:
        if change.at <= at:
            value = change.new_value
    return value


def test_every_deals_history_is_a_consistent_chain_ending_in_its_current_state(seeded):
    history = defaultdict(list)
    for change in StageChange.objects.order_by("at", "pk"):
        history[change.deal_id].append(change)
    field_changes = defaultdict(list)
    for change in DealChange.objects.order_by("at", "pk"):
        field_changes[change.deal_id, change.field].append(change)
    rules = {t.to_stage_id: t for t in Transition.objects.filter(from_stage__isnull=True)}
    deals = list(Deal.objects.select_related("stage"))
    assert len(deals) == 400
    for deal in deals:
        rows = history[deal.pk]
        first, last = rows[0], rows[-1]
        assert (first.from_stage_id, first.from_status, first.to_status) == (None, "", DealStatus.OPEN)
        assert first.at == deal.created_at and first.time_in_previous is None
        assert (last.to_stage_id, last.to_status) == (deal.stage_id, deal.status)
        since = first.at
        for previous, row in zip(rows, rows[1:]):
            assert row.at > previous.at, deal.pk
            assert (row.from_stage_id, row.from_status) == (previous.to_stage_id, previous.to_status)
            if row.from_status == DealStatus.LOST:  # reopened, as deal_reopen records it
                assert row.to_status == DealStatus.OPEN and row.time_in_previous is None
            else:
                assert row.time_in_previous == row.at - since
            if row.to_status != DealStatus.LOST:
                since = row.at
            assert (row.lost_reason_id is not None) == (row.to_status == DealStatus.LOST)
        assert deal.stage_entered_at == since
        assert all(NOW - timedelta(days=HISTORY_DAYS + 1) <= row.at <= NOW for row in rows)

        if deal.status == DealStatus.OPEN:
            assert deal.closed_at is None and deal.lost_reason_id is None and deal.next_step
            assert deal.stage.kind == StageKind.OPEN
        else:
            assert deal.closed_at == last.at
        if deal.status == DealStatus.LOST:
            assert deal.lost_reason_id == last.lost_reason_id is not None
        if deal.status == DealStatus.WON:
            assert deal.stage.kind == StageKind.WON and deal.amount and deal.expected_close

        # Field changes chain up to the current values, and every move met the entry rules then.
        for name, current in (("amount", deal.amount), ("expected_close", deal.expected_close)):
            changes = field_changes[deal.pk, name]
            for a, b in zip(changes, changes[1:]):
                assert a.new_value == b.old_value
            if changes:
                assert changes[-1].new_value == ("" if current is None else str(current))
                assert all(deal.created_at < c.at <= NOW for c in changes)
        for row in rows[1:]:
            rule = rules.get(row.to_stage_id)
            if row.from_stage_id != row.to_stage_id and rule and rule.requires_amount:
                amount = _value_at(field_changes[deal.pk, "amount"], str(deal.amount or ""), row.at)
                assert amount not in ("", "None") and Decimal(amount) > 0, deal.pk
        distinct_change_times = {c.at for (pk, _f), cs in field_changes.items() if pk == deal.pk for c in cs}
        assert deal.version == len(rows) + len(distinct_change_times)
        assert deal.organization.created_at <= deal.created_at


def test_history_has_skips_backward_moves_losses_reopenings_and_field_changes(seeded):
    positions = dict(seeded.stages.values_list("pk", "position"))
    kinds = defaultdict(int)
    for change in StageChange.objects.exclude(from_stage=None):
        step = positions[change.to_stage_id] - positions[change.from_stage_id]
        if step > 1:
            kinds["skip"] += 1
        elif step < 0:
            kinds["backward"] += 1
        elif change.to_status == DealStatus.LOST:
            kinds["lost"] += 1
        elif change.from_status == DealStatus.LOST:
            kinds["reopened"] += 1
    assert all(kinds[k] > 0 for k in ("skip", "backward", "lost", "reopened")), kinds
    fields = set(DealChange.objects.values_list("field", flat=True))
    assert fields == {"amount", "expected_close"}
    oldest = StageChange.objects.order_by("at").first().at
    assert oldest < NOW - timedelta(days=450), "the history covers about 18 months"
    reasons = set(StageChange.objects.exclude(lost_reason=None).values_list("lost_reason", flat=True))
    assert len(reasons) >= 5


def test_deals_spread_over_all_stages_with_plausible_outcomes(seeded):
    by_status = {s: Deal.objects.filter(status=s).count() for s in DealStatus.values}
    assert sum(by_status.values()) == 400
    closed = by_status["won"] + by_status["lost"]
    assert 0.12 <= by_status["won"] / closed <= 0.4, by_status
    assert by_status["open"] >= 60, by_status
    for stage in seeded.stages.all():
        status = DealStatus.WON if stage.kind == StageKind.WON else DealStatus.OPEN
        assert Deal.objects.filter(stage=stage, status=status).exists(), stage.name
    currencies = {c: Deal.objects.filter(currency=c).count() for c in ("EUR", "USD", "CHF")}
    assert sum(currencies.values()) == 400 and currencies["EUR"] > 250 and currencies["USD"] and currencies["CHF"]
    assert Organization.objects.filter(country="DE").exists() and Organization.objects.filter(country="GB").exists()
    assert not Organization.objects.filter(Q(main_contact=None) | Q(main_contact__email="")).exists()
    owners = set(Deal.objects.values_list("owner__username", flat=True))
    assert owners == {"maria", "markus", "rita", "ralf", "sofia", "sven"}
    # Deals in the late open stages carry an amount (entering Offer requires one).
    assert not Deal.objects.filter(stage__position__gte=3, amount=None).exists()


def test_seed_demo_command_prints_the_logins_and_if_empty_leaves_a_filled_database_alone(pipeline):
    out = StringIO()
    call_command("seed_demo", deals=25, seed=3, stdout=out)
    text = out.getvalue()
    assert "Created 25 deals" in text
    for username in ("admin", "maria", "markus", "rita", "ralf", "sofia", "sven"):
        assert username in text
    assert DEMO_PASSWORD in text
    before = snapshot()
    out = StringIO()
    call_command("seed_demo", deals=25, seed=4, if_empty=True, stdout=out)
    assert "already holds deals" in out.getvalue()
    assert snapshot() == before


def test_seed_demo_if_empty_seeds_an_empty_database(pipeline):
    call_command("seed_demo", deals=12, seed=3, if_empty=True, stdout=StringIO())
    assert Deal.objects.count() == 12


def test_demo_logins_lists_the_demo_users(pipeline):
    out = StringIO()
    call_command("demo_logins", stdout=out)
    assert "seed_demo" in out.getvalue()  # no users yet: it says how to create them
    seed_demo(deals=0, seed=1, now=NOW)
    out = StringIO()
    call_command("demo_logins", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.split()[:3] == ["maria", "password", DEMO_PASSWORD] for line in lines)
    assert sum(1 for line in lines if DEMO_PASSWORD in line) == 7


def test_seeding_2000_deals_writes_in_batches(pipeline, django_assert_max_num_queries, record_property):
    """Rows go in batches, never a query per deal or event; the time is measured, not asserted.

    (SQLite caps a statement at 999 parameters, so its batches are about 100 rows: some 450 queries
    for the ~45,000 rows of 2,000 deals, their history, organisations, people, their addresses and
    roles on the deals, and the audit rows. One query per row would be over 45,000.)
    """
    started = time.perf_counter()
    with django_assert_max_num_queries(600):
        result = seed_demo(deals=2000, seed=11, now=NOW)
    seconds = time.perf_counter() - started
    record_property("seed_2000_deals_seconds", round(seconds, 2))
    print(f"\nseed_demo: 2,000 deals, {result.stage_changes} stage changes in {seconds:.2f} s")
    assert result.deals == Deal.objects.count() == 2000
    assert result.stage_changes == StageChange.objects.count()


def test_history_happens_on_working_days(seeded):
    weekdays = {change.at.weekday() for change in StageChange.objects.exclude(from_stage=None)}
    assert weekdays <= {0, 1, 2, 3, 4}


def test_seed_demo_without_logins_leaves_them_to_make_run_which_prints_them_once(pipeline):
    out = StringIO()
    call_command("seed_demo", deals=5, seed=3, no_logins=True, stdout=out)
    assert "Created 5 deals" in out.getvalue()
    assert DEMO_PASSWORD not in out.getvalue()
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    assert "--no-logins" in makefile.split("\nseed:", 1)[1].split("\n\n", 1)[0]


def test_organisations_have_two_to_five_people_in_roles_on_their_deals(seeded):
    from pipeline.models import ContactRole, DealContact, Person

    people = defaultdict(int)
    for organization_id in Person.objects.values_list("organization_id", flat=True):
        people[organization_id] += 1
    assert set(people) == set(Organization.objects.values_list("pk", flat=True))
    assert min(people.values()) >= 2 and max(people.values()) <= 5
    # Every person is reachable and named like a person; every deal has its champion and others in roles.
    assert not Person.objects.filter(Q(email="") | Q(phone="") | Q(name="")).exists()
    champion = ContactRole.objects.get(name="Champion")
    main_as_champion = DealContact.objects.filter(role=champion, person_id=F("deal__organization__main_contact_id"))
    assert main_as_champion.count() == Deal.objects.count()
    roles_per_deal = defaultdict(set)
    for deal_id, role_id, person_org, deal_org in DealContact.objects.values_list(
        "deal_id", "role_id", "person__organization_id", "deal__organization_id"
    ):
        assert person_org == deal_org  # contacts work at the deal's organisation
        roles_per_deal[deal_id].add((role_id, person_org))
    contacts_per_deal = Counter(DealContact.objects.values_list("deal_id", flat=True))
    assert set(contacts_per_deal) == set(Deal.objects.values_list("pk", flat=True))
    assert min(contacts_per_deal.values()) >= 2 and max(contacts_per_deal.values()) <= 4
    assert Person.objects.filter(language="de").exists() and Person.objects.filter(language="en").exists()


def test_demo_customers_are_customers_since_their_first_win(seeded):
    """As deal_move marks them (services.customers_since_mark): the organisation page shows it."""
    from django.db.models import Min
    from django.utils import timezone

    from pipeline.models import Organization

    firsts = dict(
        Deal.objects.filter(status=DealStatus.WON).values("organization_id").annotate(first=Min("closed_at"))
        .values_list("organization_id", "first")
    )
    assert firsts
    marked = dict(Organization.objects.exclude(customer_since=None).values_list("pk", "customer_since"))
    assert marked == {pk: timezone.localdate(first) for pk, first in firsts.items()}
