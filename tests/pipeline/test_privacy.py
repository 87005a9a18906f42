"""pipeline.privacy: everything held about a person, exported; their personal data erased while
deals, amounts and history stay as they were; both recorded, and only by those who may."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import ConfigChange
from activities.models import Activity, Note
from outbox.models import OutboxMessage
from pipeline import merging, privacy
from pipeline.models import (
    Consent, ContactRole, Deal, DealChange, DealContact, MatchKey, Organization, Person, PersonEmail, PersonPhone,
    StageChange,
)
from pipeline.organizations import organization_create
from pipeline.people import deal_contact_add, person_create, person_update
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

PERSONAL = ["Anna Schmidt", "Schmidt, Anna", "Schmidt", "anna@acme.de", "anna.s@gmail.com", "+49 171 2345678",
            "Head of Purchasing", "web form at the fair"]


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def anna(admin, rep, stages):
    """Anna at Acme: main contact, on two deals in roles, with activities and notes about her, a
    twin merged into her, and her name, addresses and numbers all over the history."""
    acme = organization_create(actor=rep, name="Acme", owner=rep, contact_name="Anna Schmidt", contact_email="anna@acme.de")
    anna = acme.main_contact
    person_update(person=anna, actor=rep, job_title="Head of Purchasing", phones=["+49 171 2345678"], consent=Consent.GRANTED,
                  consent_source="web form at the fair", consent_at=timezone.now() - timedelta(days=3), language="de")
    twin = person_create(actor=rep, name="Schmidt, Anna", owner=rep, emails=["anna.s@gmail.com"])
    champion = ContactRole.objects.get_or_create(name="Champion")[0]
    big = DealFactory(owner=rep, organization=acme, title="Rollout", amount=Decimal("48000.00"), stage=stages["Offer"])
    small = DealFactory(owner=rep, organization=acme, title="Pilot", amount=Decimal("5000.00"))
    deal_contact_add(deal=big, person=anna, actor=rep, role=champion)
    deal_contact_add(deal=small, person=twin, actor=rep)
    merging.people_merge(survivor=anna, merged=twin, actor=rep)
    Activity.objects.create(kind="call", title="Call Anna Schmidt about the contract", note="mobile +49 171 2345678",
                            due_at=timezone.now(), owner=rep, person=anna)
    Note.objects.create(person=anna, author=rep, body="Anna Schmidt prefers e-mail to anna@acme.de")
    Note.objects.create(organization=acme, author=rep, body="Acme buys every spring")
    Activity.objects.create(kind="task", title="Send the offer", due_at=timezone.now(), owner=rep, deal=big)
    anna.refresh_from_db()
    anna.twin_id = twin.pk
    return anna


def manager_of(rep):
    manager = UserFactory(username="max", role="manager", team=rep.team)
    rep.team.manager = manager
    rep.team.save()
    return manager


# --- The export -------------------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person(anna, admin):
    data = privacy.person_export(person=anna, actor=admin)
    assert data["person"]["name"] == "Anna Schmidt" and data["person"]["job_title"] == "Head of Purchasing"
    assert data["person"]["organization"]["name"] == "Acme" and data["person"]["merged_records"] == [anna.twin_id]
    assert (data["person"]["consent"], data["person"]["consent_source"]) == ("granted", "web form at the fair")
    assert [e["address"] for e in data["emails"]] == ["anna@acme.de", "anna.s@gmail.com"]
    assert [p["number"] for p in data["phones"]] == ["+49 171 2345678"]
    assert sorted((d["title"], d["role"]) for d in data["deals"]) == [("Pilot", None), ("Rollout", "Champion")]
    assert data["main_contact_of"] == [{"id": anna.organization_id, "name": "Acme"}]
    assert [a["title"] for a in data["activities"]] == ["Call Anna Schmidt about the contract"]
    assert [n["body"] for n in data["notes"]] == ["Anna Schmidt prefers e-mail to anna@acme.de"]
    history = {(row["record"], row["action"]) for row in data["history"]}
    assert {(f"person #{anna.pk}", "create"), (f"person #{anna.pk}", "merge"), (f"person #{anna.twin_id}", "delete")} <= history
    assert any(row["record"].startswith("deal #") for row in data["history"])  # put on deals in roles
    json.dumps(data)  # ready to download


def test_the_export_is_recorded_without_personal_data(anna, admin):
    privacy.person_export(person=anna, actor=admin, how="page")
    row = ConfigChange.objects.get(action="export")
    assert (row.object_id, row.actor, row.changes) == (str(anna.pk), admin, {"export": [None, "page"]})


def test_admins_and_the_responsible_managers_may_export_reps_may_not(anna, rep, admin):
    manager = manager_of(rep)
    other_manager = UserFactory(username="sam", role="manager", team=TeamFactory(name="South"))
    assert privacy.person_export(person=anna, actor=manager)["person"]["id"] == anna.pk
    for user in (rep, other_manager):
        with pytest.raises(privacy.PrivacyRefused):
            privacy.person_export(person=anna, actor=user)
    assert ConfigChange.objects.filter(action="export").count() == 1


# --- The erasure ------------------------------------------------------------------------------------


def test_an_erasure_removes_the_personal_data_and_keeps_deals_amounts_and_history(anna, admin):
    deals_before = list(Deal.objects.order_by("pk").values_list("pk", "title", "amount", "stage_id", "status", "version"))
    history_before = (StageChange.objects.count(), DealChange.objects.count())
    roles_before = list(DealContact.objects.order_by("pk").values_list("deal_id", "person_id", "role_id"))

    erased = privacy.person_erase(person=anna, actor=admin)

    assert erased.name == f"Erased person #{anna.pk}" and erased.erased_at is not None
    assert (erased.email, erased.phone, erased.job_title, erased.consent_source, erased.language) == ("", "", "", "", "")
    assert not PersonEmail.objects.filter(person=anna).exists() and not PersonPhone.objects.filter(person=anna).exists()
    assert not MatchKey.objects.filter(person=anna).exists()
    # Deals, amounts, stage history and who is on which deal in which role: as before.
    assert list(Deal.objects.order_by("pk").values_list("pk", "title", "amount", "stage_id", "status", "version")) == deals_before
    assert (StageChange.objects.count(), DealChange.objects.count()) == history_before
    assert list(DealContact.objects.order_by("pk").values_list("deal_id", "person_id", "role_id")) == roles_before
    # What was written about her is gone; what was written about the company or a deal stays.
    assert Activity.objects.get(person=anna).title == "(erased on request)" and Activity.objects.get(person=anna).note == ""
    assert Note.objects.get(person=anna).body == "(erased on request)"
    assert Note.objects.get(organization__isnull=False).body == "Acme buys every spring"
    assert Activity.objects.get(deal__isnull=False).title == "Send the offer"
    # Nobody's contact any more.
    assert Organization.objects.get(pk=anna.organization_id).main_contact is None


def test_an_erasure_scrubs_the_person_from_the_audit_trail_but_keeps_what_happened(anna, admin):
    rows_before = ConfigChange.objects.count()
    privacy.person_erase(person=anna, actor=admin)

    for row in ConfigChange.objects.all():
        text = json.dumps(row.changes, ensure_ascii=False) + row.object_repr
        assert not [value for value in PERSONAL if value in text], (row.content_type.model, row.action, text)
    for message in OutboxMessage.objects.all():
        assert "Schmidt" not in json.dumps(message.payload, ensure_ascii=False)
    # Every row is still there (plus the erasure's own and the organisation's), saying which field
    # changed, when and by whom.
    assert ConfigChange.objects.count() == rows_before + 2
    created = ConfigChange.objects.get(action="create", object_id=str(anna.pk), content_type__model="person")
    assert created.changes["name"] == [None, "—"] and created.object_repr == f"Erased person #{anna.pk}"
    assert created.changes["owner"][1]  # not personal data of hers: kept
    deal_rows = ConfigChange.objects.filter(content_type__model="deal", changes__has_key=f"contact {anna.pk} Erased person #{anna.pk}")
    assert deal_rows.count() >= 1
    assert ConfigChange.objects.get(action="create", content_type__model="organization").changes["main_contact"] == [
        None, f"Erased person #{anna.pk}",
    ]
    erasure = ConfigChange.objects.get(action="erase")
    assert erasure.actor == admin and erasure.changes["erased activities.note"] == [None, "1"]


def test_an_erasure_is_published_for_followers(anna, admin, monkeypatch):
    published = []
    monkeypatch.setattr(privacy.person_erased, "publish", lambda **payload: published.append(payload) or [])
    privacy.person_erase(person=anna, actor=admin)
    assert published == [{"person_id": anna.pk}]


def test_an_erased_person_is_not_erased_twice_nor_changed_nor_merged_nor_suggested(anna, admin, rep):
    privacy.person_erase(person=anna, actor=admin)
    with pytest.raises(privacy.PrivacyRefused) as refused:
        privacy.person_erase(person=anna, actor=admin)
    assert refused.value.code == "erased"
    from pipeline.exceptions import PipelineError

    with pytest.raises(PipelineError):
        person_update(person=anna, actor=admin, name="Anna again")
    twin = person_create(actor=admin, name=f"Erased person #{anna.pk}", organization=anna.organization)
    with pytest.raises(merging.MergeRefused):
        merging.people_merge(survivor=twin, merged=anna, actor=admin)
    from pipeline.duplicates import duplicate_suggestions

    assert duplicate_suggestions(admin, kind="person")[1] == []


def test_only_admins_and_the_responsible_managers_may_erase(anna, rep, admin):
    other_manager = UserFactory(username="sam", role="manager", team=TeamFactory(name="South"))
    for user in (rep, other_manager):
        with pytest.raises(privacy.PrivacyRefused) as refused:
            privacy.person_erase(person=anna, actor=user)
        assert refused.value.code == "forbidden"
    assert Person.objects.get(pk=anna.pk).erased_at is None
    assert privacy.person_erase(person=anna, actor=manager_of(rep)).erased_at is not None


def test_an_erasure_rolls_back_entirely_when_an_eraser_fails(anna, admin, monkeypatch):
    from pipeline import extensions

    def broken(**kwargs):
        raise RuntimeError("mail archive unreachable")

    monkeypatch.setitem(extensions._person_erasers, "zz_broken", broken)
    audit = list(ConfigChange.objects.order_by("pk").values_list("pk", "changes", "object_repr"))
    with pytest.raises(RuntimeError):
        privacy.person_erase(person=anna, actor=admin)
    anna.refresh_from_db()
    assert anna.name == "Anna Schmidt" and anna.erased_at is None and PersonEmail.objects.filter(person=anna).count() == 2
    assert list(ConfigChange.objects.order_by("pk").values_list("pk", "changes", "object_repr")) == audit
