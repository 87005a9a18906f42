"""Moving in: a generated export of another CRM, shaped like a real one (owners as full names and
e-mails, dates month/day/year, its own stage names with "Closed Won" and "Closed Lost", won and lost
rows with their close dates, countries as names, underscores in the headers), imported through the
wizard's views: upload → columns → values and formats → preview → commit. What the forecasts read
afterwards (won amounts per month, lost counts, time in stage) must be the file's."""
import csv
import io
import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from forecasting.periods import MONTH, period_of_date
from forecasting.sums import period_sums
from imports.models import ImportJob, ImportLayout, ImportStatus
from pipeline.models import Deal, DealStatus, LostReason, Organization, StageChange
from tests.factories import UserFactory

from .conftest import csv_bytes
from .test_views import proposals, proposed

pytestmark = pytest.mark.django_db

TODAY = date(2025, 12, 15)
HEADERS = ["Opportunity_Name", "Account_Name", "Amount", "Currency", "Deal_Stage", "Status", "Deal_Owner",
           "Created_Date", "Close_Date", "Lost_Reason", "Billing_Country"]
# The other CRM's stages; "Develop" and "Proposal" have no name in common with ours.
THEIR_STAGES = ["Prospect", "Qualify", "Develop", "Proposal", "Negotiation/Review"]
OWNERS = ["Anna Schmidt", "ben@example.com", "Carla Jones"]
COUNTRIES = {"Germany": "DE", "United States": "US", "Österreich": "AT", "UK": "GB"}
REASONS = ["Price", "Competitor", "Went dark"]


def mdy(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def export(n: int = 60, seed: int = 7) -> tuple[bytes, list[dict]]:
    """The CSV and what each row means."""
    rng = random.Random(seed)
    rows, truth = [], []
    for i in range(n):
        created = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 240))
        outcome = ["open", "won", "won", "lost", "lost-from-stage"][i % 5]
        stage = rng.choice(THEIR_STAGES)
        closed = created + timedelta(days=rng.randrange(3, 90)) if outcome != "open" else None
        close_date = closed if closed else TODAY + timedelta(days=rng.randrange(10, 120))
        amount = Decimal(rng.randrange(1000, 90000)) + Decimal(rng.choice(["0", "0.5", "0.25"]))
        stage_text = {"won": "Closed Won", "lost": "Closed Lost"}.get(outcome, stage)
        status = {"open": "Open", "won": "Won"}.get(outcome, "Lost")
        country = list(COUNTRIES)[(i % 45) % len(COUNTRIES)]  # an account's country is the same in all its rows
        rows.append([
            f"Opportunity {i}", f"Account {i % 45}", f"{amount:,.2f}", "EUR", stage_text, status,
            OWNERS[i % 3], mdy(created), mdy(close_date),
            rng.choice(REASONS) if outcome.startswith("lost") else "", country,
        ])
        truth.append({"title": f"Opportunity {i}", "outcome": outcome, "their_stage": stage, "created": created,
                      "closed": closed, "amount": amount, "country": COUNTRIES[country], "owner": OWNERS[i % 3],
                      "account": f"Account {i % 45}"})
    # A value that proves the date order: the 13th can only be a day.
    rows[0][7] = "3/13/2025"
    truth[0]["created"] = date(2025, 3, 13)
    if truth[0]["closed"] and truth[0]["closed"] < truth[0]["created"]:
        truth[0]["closed"] = None
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADERS, *rows])
    return buffer.getvalue().encode(), truth


@pytest.fixture
def people(team):
    anna = UserFactory(username="aschmidt", first_name="Anna", last_name="Schmidt", role="rep", team=team)
    ben = UserFactory(username="bweber", email="ben@example.com", role="rep", team=team)
    return anna, ben


def walk_to_preview(client, data: bytes, pipeline, *, change=None):
    response = client.post(reverse("imports:upload"), {
        "kind": "deals", "pipeline": pipeline.pk, "file": SimpleUploadedFile("opportunities.csv", data),
    })
    job = ImportJob.objects.latest("pk")
    page = client.get(response["Location"])
    mapping = {name: field.value() for name, field in ((f.name, f) for f in page.context["form"]) if field.value()}
    response = client.post(reverse("imports:mapping", args=[job.pk]), mapping)
    assert response["Location"] == reverse("imports:values", args=[job.pk])
    page = client.get(response["Location"])
    form = page.context["form"]
    data = proposed(form)
    for name, field in form.fields.items():
        if hasattr(field, "value_text") and change and (name.split("__")[0], field.value_text) in change:
            data[name] = change[(name.split("__")[0], field.value_text)]
    return job, page, data


@time_machine.travel(datetime(2025, 12, 15, 12, 0, tzinfo=timezone.get_fixed_timezone(0)), tick=False)
def test_a_whole_crm_export_moves_in_with_its_past(client, admin_user, people, pipeline, stages):
    anna, ben = people
    for reason in ("Price", "Competitor"):
        LostReason.objects.get_or_create(name=reason, defaults={"position": 9})
    data, truth = export()
    client.force_login(admin_user)
    ours = {"Develop": f"stage:{stages['Meeting & demo'].pk}", "Proposal": f"stage:{stages['Offer'].pk}"}
    job, page, posted = walk_to_preview(
        client, data, pipeline, change={("stage", k): v for k, v in ours.items()},
    )
    # The headers with underscores were recognised.
    job.refresh_from_db()
    assert {"title", "company", "amount", "stage", "status", "owner", "created_at", "expected_close", "lost_reason",
            "country"} <= set(job.mapping)
    form = page.context["form"]
    body = page.content.decode()
    # Proposals by name: our stages, won and lost; users by full name and e-mail; ISO countries.
    stage_proposals = proposals(form, "stage")
    assert stage_proposals["Prospect"] == f"stage:{stages['Prospecting'].pk}"
    assert stage_proposals["Qualify"] == f"stage:{stages['Qualification'].pk}"
    assert stage_proposals["Negotiation/Review"] == f"stage:{stages['Negotiation'].pk}"
    assert (stage_proposals["Closed Won"], stage_proposals["Closed Lost"]) == ("won", "lost")
    assert proposals(form, "owner") == {"Anna Schmidt": f"user:{anna.pk}", "ben@example.com": f"user:{ben.pk}",
                                        "Carla Jones": "create"}
    assert proposals(form, "country") == COUNTRIES
    assert proposals(form, "lost_reason")["Went dark"] == "create"
    # The date order, with its evidence, and the decimal point.
    assert form.fields["date_order"].initial == "mdy"
    assert "“3/13/2025” can only be month/day/year (02/13/2025)." in body
    assert form.fields["decimal_separator"].initial == "."

    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert response["Location"] == reverse("imports:preview", args=[job.pk])
    page = client.get(response["Location"])
    assert page.context["preview"].ok, [r.errors for r in page.context["preview"].error_rows][:3]
    response = client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_deals == len(truth)

    deals = {d.title: d for d in Deal.objects.select_related("stage", "owner", "organization", "lost_reason")}
    # Won amounts per month, as the forecast sums them, are the file's.
    expected_won = defaultdict(Decimal)
    for t in truth:
        if t["outcome"] == "won":
            expected_won[t["closed"].replace(day=1)] += t["amount"]
    first = period_of_date(date(2025, 1, 1), MONTH)
    sums = period_sums(deals=Deal.objects.all(), kind=MONTH, first_period=first, horizon=12)
    won = {key[1]: values["won"] for key, values in sums.items() if values["won"]}
    assert won == dict(expected_won)
    # Nothing was won or lost "today".
    assert not Deal.objects.filter(closed_at__date=TODAY).exists()
    # Lost counts; a lost deal stays in the stage it was lost from, or the first stage for "Closed Lost".
    assert Deal.objects.filter(status=DealStatus.LOST).count() == sum(t["outcome"].startswith("lost") for t in truth)
    their_to_ours = {"Prospect": "Prospecting", "Qualify": "Qualification", "Develop": "Meeting & demo",
                     "Proposal": "Offer", "Negotiation/Review": "Negotiation"}
    for t in truth:
        deal = deals[t["title"]]
        assert deal.created_at.date() == t["created"]
        assert deal.organization.country == t["country"]
        if t["outcome"] == "lost-from-stage":
            assert (deal.status, deal.stage.name) == ("lost", their_to_ours[t["their_stage"]])
        elif t["outcome"] == "lost":
            assert (deal.status, deal.stage.name) == ("lost", "Prospecting")
        elif t["outcome"] == "won":
            assert (deal.status, deal.stage.name) == ("won", "Retention")
        else:
            assert (deal.status, deal.stage.name, deal.closed_at) == ("open", their_to_ours[t["their_stage"]], None)
        if t["closed"]:
            assert deal.closed_at.date() == t["closed"]
            # Time in stage: from the day it was created to the day it closed.
            last = StageChange.objects.filter(deal=deal).order_by("at", "pk").last()
            assert last.to_status == t["outcome"][:4].rstrip("-")
            assert last.time_in_previous == t["closed"] - t["created"]
    # The lost reasons: existing ones matched, the new one created (by an admin's choice).
    assert Counter(d.lost_reason.name for d in deals.values() if d.status == "lost") == Counter(
        r for r, t in zip([row[9] for row in csv.reader(io.StringIO(data.decode()))][1:], truth) if t["outcome"].startswith("lost")
    )
    # The unknown owner is a new inactive user with a valid username, named to the admin.
    carla = User.objects.get(username="carla.jones")
    carla.full_clean(exclude=["password"])
    assert (carla.is_active, carla.has_usable_password(), carla.get_full_name()) == (False, False, "Carla Jones")
    assert deals["Opportunity 2"].owner == carla and job.created_users == ["carla.jones"]
    status = client.get(response["Location"]).content.decode()
    assert "carla.jones" in status and "inactive" in status

    # The next file of the same layout is mapped as this one was.
    assert ImportLayout.objects.count() == 1
    job2, page2, _posted = walk_to_preview(client, data, pipeline)
    assert job2.mapping == job.mapping
    again = proposals(page2.context["form"], "stage")
    assert again["Develop"] == ours["Develop"] and again["Proposal"] == ours["Proposal"]
    assert page2.context["form"].fields["date_order"].initial == "mdy"


@time_machine.travel(datetime(2025, 12, 15, 12, 0, tzinfo=timezone.get_fixed_timezone(0)), tick=False)
def test_bad_history_rows_each_get_a_clear_message_and_can_be_skipped(client, manager, pipeline, stages):
    client.force_login(manager)
    data = csv_bytes(
        "Title,Company,Amount,Stage,Status,Created,Closed on,Lost reason",
        "Good,Alpha,100,Offer,won,01/02/2025,01/03/2025,",          # 2: fine
        "No close,Beta,100,Offer,won,01/02/2025,,",                 # 3
        "Open but closed,Gamma,100,Offer,open,01/02/2025,01/03/2025,",  # 4
        "Backwards,Delta,100,Offer,lost,01/05/2025,01/03/2025,",    # 5
        "Future,Eps,100,Offer,won,01/02/2025,12/30/2025,",          # 6
        "Unknown stage,Zeta,100,Warp,open,01/02/2025,,",            # 7
        "Contradiction,Eta,100,Closed Won,lost,01/02/2025,01/03/2025,",  # 8
        "Swapped order,Theta,100,Offer,won,01/02/2025,13/01/2025,",  # 9: only D/M/Y, the file is M/D/Y
        "Maybe,Iota,100,Offer,perhaps,01/02/2025,,",                # 10
        "Unknown reason,Kappa,100,Offer,lost,01/02/2025,01/03/2025,Aliens",  # 11
        "No reason,Lambda,100,Offer,lost,01/02/2025,01/03/2025,",  # 12
    )
    job, page, posted = walk_to_preview(client, data, pipeline)
    assert "closed_at" in job.mapping and "created_at" in job.mapping
    posted["date_order"] = "mdy"
    # A manager cannot create lost reasons: "Aliens" has no proposal and must be mapped.
    assert proposals(page.context["form"], "lost_reason")["Aliens"] == ""
    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert "Choose what “Aliens” becomes." in response.content.decode()
    price = LostReason.objects.order_by("pk").first()
    posted.update({k: f"reason:{price.pk}" for k in page.context["form"].fields if k.startswith("lost_reason__")})
    stage_field = next(k for k, f in page.context["form"].fields.items() if getattr(f, "value_text", "") == "Warp")
    posted.pop(stage_field)
    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert response.status_code == 200  # "Warp" needs a choice too
    posted[stage_field] = f"stage:{stages['Qualification'].pk}"
    status_field = next(k for k, f in page.context["form"].fields.items() if getattr(f, "value_text", "") == "perhaps")
    assert status_field not in posted  # an unknown status has no proposal
    posted[status_field] = "open"
    assert client.post(reverse("imports:values", args=[job.pk]), posted).status_code == 302
    job.refresh_from_db()
    # Unmap "Warp" and "perhaps", to see the preview's messages for values nobody mapped.
    job.value_mapping["stage"].pop("Warp")
    job.value_mapping["status"].pop("perhaps")
    job.save()
    preview = client.get(reverse("imports:preview", args=[job.pk])).context["preview"]
    errors = {row.line: " ".join(row.errors) for row in preview.rows}
    assert errors[2] == ""
    assert "A won deal needs the date it was won; map the column that holds it." in errors[3]
    assert "An open deal has no close date" in errors[4]
    assert "The close date lies before the created date." in errors[5]
    assert "The close date lies in the future." in errors[6]
    assert "Stage: “Warp” is not a stage of this pipeline" in errors[7]
    assert "The stage says Won but the status says Lost." in errors[8]
    assert ("“13/01/2025” is not a date in the order you confirmed (month/day/year (02/13/2025)); "
            "it would read as day/month/year (13/02/2025).") in errors[9]
    assert "Status: “perhaps” is not open, won or lost." in errors[10]
    assert "A lost deal needs a lost reason; this row has none." in errors[12]
    assert errors[11] == ""  # "Aliens" was mapped to an existing reason

    # Every problem row, with its messages and cells, as CSV.
    download = client.get(reverse("imports:problems", args=[job.pk]))
    lines = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["Line", "Problems", "Title"]
    assert [line[0] for line in lines[1:]] == ["3", "4", "5", "6", "7", "8", "9", "10", "12"]
    assert lines[1][2] == "No close" and "needs the date it was won" in lines[1][1]

    # All or nothing refuses; "import the valid rows, skip the rest" imports the two good ones.
    client.post(reverse("imports:commit", args=[job.pk]), {"skip_invalid": "on"})
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_deals == 2 and job.skipped_rows == 9
    assert set(Deal.objects.values_list("title", flat=True)) == {"Good", "Unknown reason"}
    assert Deal.objects.get(title="Good").closed_at.date() == date(2025, 1, 3)
    skipped = client.get(reverse("imports:problems", args=[job.pk])).content.decode("utf-8-sig")
    assert "No close" in skipped and "Good" not in skipped
    assert not Organization.objects.filter(name="Beta").exists()


def test_all_or_nothing_imports_nothing_when_a_row_is_wrong(client, rep, pipeline):
    client.force_login(rep)
    data = csv_bytes("Title,Company,Stage,Status,Closed on", "Good,Alpha,Prospecting,open,", "Bad,Beta,Offer,won,")
    job, _page, posted = walk_to_preview(client, data, pipeline)
    client.post(reverse("imports:values", args=[job.pk]), posted)
    client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and not Deal.objects.exists()
    assert [e["line"] for e in job.errors] == [3] and job.errors[0]["cells"] == ["Bad", "Beta", "Offer", "won", ""]


def test_seven_dot_eight_nine_zero_among_decimal_commas_is_never_seven_point_eight_nine(client, rep, pipeline):
    client.force_login(rep)
    data = csv_bytes("Title;Company;Amount", "A;Alpha;1.234,56", "B;Beta;7.890", "C;Gamma;12,5")
    job, page, posted = walk_to_preview(client, data, pipeline)
    assert page.context["form"].fields["decimal_separator"].initial == ","
    assert "“1.234,56” can only be comma (1.234,56)." in page.content.decode()
    client.post(reverse("imports:values", args=[job.pk]), posted)
    client.post(reverse("imports:commit", args=[job.pk]))
    amounts = dict(Deal.objects.values_list("title", "amount"))
    assert amounts == {"A": Decimal("1234.56"), "B": Decimal("7890.00"), "C": Decimal("12.50")}


def test_a_value_that_contradicts_the_confirmed_separator_is_a_problem_in_the_preview(client, rep, pipeline):
    client.force_login(rep)
    data = csv_bytes("Title;Company;Amount", "A;Alpha;1.234,56", "B;Beta;7.89")
    job, page, posted = walk_to_preview(client, data, pipeline)
    assert page.context["form"].fields["decimal_separator"].initial == ""  # the file writes both
    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert "Confirm how the file writes this" in response.content.decode()
    posted["decimal_separator"] = ","
    client.post(reverse("imports:values", args=[job.pk]), posted)
    preview = client.get(reverse("imports:preview", args=[job.pk])).context["preview"]
    assert [r.errors for r in preview.rows] == [
        [], ["Amount: “7.89” cannot be read with the decimal comma you confirmed for this file; correct the value or the format."],
    ]


def test_only_an_admin_may_create_users_for_unknown_owners(client, manager, pipeline):
    client.force_login(manager)
    data = csv_bytes("Title,Company,Owner", "A,Alpha,Zoe Unknown")
    job, page, posted = walk_to_preview(client, data, pipeline)
    field = next(k for k in page.context["form"].fields if k.startswith("owner__"))
    assert field not in posted  # no proposal: a manager chooses one of their people
    assert "create" not in dict(page.context["form"].fields[field].choices)
    posted[field] = "create"  # a forged choice
    response = client.post(reverse("imports:values", args=[job.pk]), posted)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    posted[field] = f"user:{manager.pk}"
    client.post(reverse("imports:values", args=[job.pk]), posted)
    client.post(reverse("imports:commit", args=[job.pk]))
    assert Deal.objects.get().owner == manager and not User.objects.filter(username="zoe.unknown").exists()


def test_the_values_page_runs_a_bounded_number_of_queries(client, admin_user, people, pipeline, django_assert_max_num_queries):
    client.force_login(admin_user)
    data, _truth = export(n=200)
    job, _page, _posted = walk_to_preview(client, data, pipeline)
    with django_assert_max_num_queries(15):
        client.get(reverse("imports:values", args=[job.pk]))


@time_machine.travel(datetime(2025, 12, 15, 12, 0, tzinfo=timezone.get_fixed_timezone(0)), tick=False)
def test_a_row_in_the_won_stage_is_won_on_its_close_date_not_on_its_created_date(client, rep, pipeline, stages):
    client.force_login(rep)
    data = csv_bytes("Title,Company,Stage,Created,Closed on", "Done,Alpha,Retention,2025-01-02,2025-01-20")
    job, _page, posted = walk_to_preview(client, data, pipeline)
    client.post(reverse("imports:values", args=[job.pk]), posted)
    client.post(reverse("imports:commit", args=[job.pk]))
    deal = Deal.objects.get()
    assert (deal.status, deal.stage, deal.closed_at.date(), deal.created_at.date()) == (
        "won", stages["Retention"], date(2025, 1, 20), date(2025, 1, 2))
    assert list(StageChange.objects.filter(deal=deal).order_by("at").values_list("to_stage__name", "time_in_previous")) == [
        ("Prospecting", None), ("Retention", timedelta(days=18)),
    ]
