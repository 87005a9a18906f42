"""The full export: everything a user may see as CSV files in a ZIP or one JSON document, read back
by the import wizard (organisations, then deals with their outcomes and dates) and by
import_history (deals with their stage history)."""
import csv
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from activities.models import Activity, Note
from activities.services import activity_create, note_create
from forecasting.importing import import_history
from imports.models import ImportJob, ImportStatus
from pipeline import services
from pipeline.models import Deal, DealStatus, LostReason, Organization, Person, StageChange
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory
from tests.imports.test_views import proposed

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=dt_timezone.utc)
FILES = {"organizations.csv", "people.csv", "deals.csv", "events.csv", "activities.csv", "notes.csv"}


@pytest.fixture
def book(rep, stages):
    """A rep's records with a past: an open deal moved twice, a won and a lost one, contacts with
    international phone numbers (which a spreadsheet would read as formulas), activities, notes;
    and another team's deal the rep may not see."""
    with time_machine.travel(NOW - timedelta(days=90), tick=False):
        nordlicht = OrganizationFactory(name="Nordlicht Logistik GmbH", owner=rep, country="DE",
                                        website="https://nordlicht.example", industry="Logistics",
                                        contact_name="Anna Alt", contact_email="anna@nordlicht.example",
                                        contact_phone="+49 30 1234567")
        alpen = OrganizationFactory(name="Alpen Software AG", owner=rep, country="AT")
        anna = Person.objects.get(name="Anna Alt")
        open_deal = DealFactory(owner=rep, organization=nordlicht, title="Rollout", amount=Decimal("12500.50"),
                                stage=stages["Prospecting"])
        won = DealFactory(owner=rep, organization=alpen, title="=Licences", amount=Decimal("9000"),
                          stage=stages["Negotiation"], expected_close=(NOW - timedelta(days=20)).date())
        lost = DealFactory(owner=rep, organization=alpen, title="Support contract", amount=Decimal("3000"),
                           stage=stages["Offer"])
    services.deal_move(deal=open_deal, to_stage=stages["Qualification"], actor=rep, at=NOW - timedelta(days=60))
    services.deal_move(deal=open_deal, to_stage=stages["Offer"], actor=rep, at=NOW - timedelta(days=30))
    services.deal_move(deal=won, to_stage=stages["Retention"], actor=rep, at=NOW - timedelta(days=20))
    reason = LostReason.objects.get_or_create(name="Price", defaults={"position": 1})[0]
    services.deal_mark_lost(deal=lost, actor=rep, reason=reason, at=NOW - timedelta(days=10))
    with time_machine.travel(NOW, tick=False):
        activity_create(actor=rep, kind="call", title="Call Anna", due_at=NOW + timedelta(days=1), deal=open_deal)
        note_create(actor=rep, body="Wants a pilot first.", deal=open_deal)
        stranger = UserFactory(username="other", role="rep", team=TeamFactory(name="Elsewhere"))
        DealFactory(owner=stranger, title="Hidden Deal", stage=stages["Prospecting"],
                    organization=OrganizationFactory(name="Hidden Corp", owner=stranger))
    return {"open": open_deal, "won": won, "lost": lost, "anna": anna}


def files_of(response) -> dict[str, list[dict]]:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        return {name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig"))))
                for name in archive.namelist()}


def test_the_zip_holds_what_the_user_may_see_one_file_per_kind(client, rep, book):
    client.force_login(rep)
    response = client.get(reverse("exports:everything_zip"))
    assert response["Content-Type"] == "application/zip" and "attachment" in response["Content-Disposition"]
    files = files_of(response)
    assert set(files) == FILES
    deals = {row["title"]: row for row in files["deals.csv"]}
    assert set(deals) == {"Rollout", "'=Licences", "Support contract"}  # not the other team's; no formula
    assert deals["Rollout"]["amount"] == "12500.50" and deals["Rollout"]["stage"] == "Offer"
    assert (deals["Support contract"]["status"], deals["Support contract"]["lost_reason"]) == ("lost", "Price")
    assert deals["'=Licences"]["closed_at"].startswith((NOW - timedelta(days=20)).date().isoformat())
    assert "Hidden" not in json.dumps(files)
    people = {row["name"]: row for row in files["people.csv"]}
    assert people["Anna Alt"]["phones"] == "'+49 30 1234567" and people["Anna Alt"]["emails"] == "anna@nordlicht.example"
    moves = [(e["old"], e["new"]) for e in files["events.csv"] if e["external_id"] == f"stageflow-{book['open'].pk}"]
    assert moves == [("", "Prospecting"), ("Prospecting", "Qualification"), ("Qualification", "Offer")]
    assert [a["title"] for a in files["activities.csv"]] == ["Call Anna"]
    assert [n["body"] for n in files["notes.csv"]] == ["Wants a pilot first."]


def test_the_json_document_has_the_same_records_with_values_as_they_are(client, rep, book):
    client.force_login(rep)
    response = client.get(reverse("exports:everything_json"))
    assert response["Content-Type"] == "application/json"
    document = json.loads(b"".join(response.streaming_content))
    assert (document["format"], document["version"], document["exported_by"]) == ("stageflow-export", 1, rep.username)
    assert {d["title"] for d in document["deals"]} == {"Rollout", "=Licences", "Support contract"}
    anna = next(p for p in document["people"] if p["name"] == "Anna Alt")
    assert anna["phones"] == "+49 30 1234567"
    assert len(document["events"]) == len(files_of(client.get(reverse("exports:everything_zip")))["events.csv"])


def test_a_manager_gets_the_team_and_an_admin_everything(client, manager, admin_user, book):
    client.force_login(manager)
    titles = {row["title"] for row in files_of(client.get(reverse("exports:everything_zip")))["deals.csv"]}
    assert "Rollout" in titles and "Hidden Deal" not in titles
    client.force_login(admin_user)
    titles = {row["title"] for row in files_of(client.get(reverse("exports:everything_zip")))["deals.csv"]}
    assert "Hidden Deal" in titles


def _through_the_wizard(client, name: str, data: bytes, kind: str, pipeline) -> ImportJob:
    response = client.post(reverse("imports:upload"), {
        "kind": kind, "pipeline": pipeline.pk, "file": SimpleUploadedFile(name, data),
    })
    job = ImportJob.objects.latest("pk")
    page = client.get(response["Location"])
    mapping = {f.name: f.value() for f in page.context["form"] if f.value()}
    client.post(reverse("imports:mapping", args=[job.pk]), mapping)
    page = client.get(reverse("imports:values", args=[job.pk]))
    response = client.post(reverse("imports:values", args=[job.pk]), proposed(page.context["form"]))
    assert response.status_code == 302, page.context["form"].errors
    preview = client.get(reverse("imports:preview", args=[job.pk])).context["preview"]
    assert preview.ok, [r.errors for r in preview.error_rows]
    client.post(reverse("imports:commit", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.message
    return job


def _wipe():
    Activity.objects.all().delete()
    Note.objects.all().delete()
    Deal.objects.all().delete()
    Organization.objects.update(main_contact=None)
    Person.objects.all().delete()
    Organization.objects.all().delete()


def test_the_export_moves_back_in_through_the_wizard(client, admin_user, rep, book, pipeline):
    client.force_login(admin_user)
    files = files_of(client.get(reverse("exports:everything_zip")))
    raw = {}
    with zipfile.ZipFile(io.BytesIO(client.get(reverse("exports:everything_zip")).getvalue())) as archive:
        raw = {name: archive.read(name) for name in archive.namelist()}
    before = {d.title: (d.status, d.stage.name, d.amount, d.created_at.date(), d.closed_at and d.closed_at.date(),
                        d.lost_reason and d.lost_reason.name, d.owner.username, d.organization.name)
              for d in Deal.objects.select_related("stage", "lost_reason", "owner", "organization")}
    countries = dict(Organization.objects.values_list("name", "country"))
    _wipe()

    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        organizations = _through_the_wizard(client, "organizations.csv", raw["organizations.csv"], "organizations", pipeline)
        deals = _through_the_wizard(client, "deals.csv", raw["deals.csv"], "deals", pipeline)
    assert organizations.created_organizations == len(files["organizations.csv"])
    assert deals.created_deals == len(files["deals.csv"]) and deals.created_organizations == 0
    after = {d.title: (d.status, d.stage.name, d.amount, d.created_at.date(), d.closed_at and d.closed_at.date(),
                       d.lost_reason and d.lost_reason.name, d.owner.username, d.organization.name)
             for d in Deal.objects.select_related("stage", "lost_reason", "owner", "organization")}
    assert after == before
    assert dict(Organization.objects.values_list("name", "country")) == countries
    assert Person.objects.get(name="Anna Alt").phone == "+49 30 1234567"  # the quote came off again


def test_the_export_moves_back_in_with_its_stage_history_through_import_history(client, admin_user, book, tmp_path):
    client.force_login(admin_user)
    with zipfile.ZipFile(io.BytesIO(client.get(reverse("exports:everything_zip")).getvalue())) as archive:
        for name in ("deals.csv", "events.csv"):
            (tmp_path / name).write_bytes(archive.read(name))
    paths = {d.title: list(d.stage_changes.order_by("at", "pk").values_list("to_stage__name", "to_status", "at"))
             for d in Deal.objects.filter(pk__in=[book["open"].pk, book["won"].pk])}
    _wipe()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        import_history(tmp_path / "deals.csv", tmp_path / "events.csv")
    for title, path in paths.items():
        again = list(Deal.objects.get(title=title).stage_changes.order_by("at", "pk")
                     .values_list("to_stage__name", "to_status", "at"))
        assert again == path, title


@pytest.mark.parametrize("text", ["=SUM(A1)", "+49 30 1234567", "-5", "@home", "'quoted'", "'", "plain", ""])
def test_what_an_export_protects_reads_back_as_it_was(text):
    from exports.services import neutralise, unneutralise

    assert unneutralise(neutralise(text)) == text
    assert unneutralise("'Tis the season") == "'Tis the season"  # a quote of the text's own stays
