"""The offer rules: approval, sending, the link's life, tampering, acceptance and declining."""
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core import mail
from django.utils import timezone

from offers import services
from offers.exceptions import LinkUnavailable, OfferError, StaleDocument
from offers.models import EventKind, Notification, OfferLine, OfferResponse, OfferVersion, VersionStatus
from pipeline import services as pipeline_services
from pipeline.models import DealChange, DealStatus, StageChange
from pipeline.people import person_update
from tests.factories import TeamFactory, UserFactory, lost_reason

from .conftest import current_hash, expire

pytestmark = pytest.mark.django_db


# --- Approval ---------------------------------------------------------------------------------


def test_discount_up_to_the_limit_needs_no_approval(draft, rep, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "OFFER_DISCOUNT_APPROVAL_LIMIT": 15}
    line = draft.lines.first()
    services.line_update(line=line, actor=rep, discount_percent="15")
    assert services.approval_needed(draft) is False
    services.offer_send(version=draft, actor=rep)


def test_discount_above_the_limit_cannot_be_sent_without_approval(draft, rep):
    services.line_update(line=draft.lines.first(), actor=rep, discount_percent="15.01")
    assert services.approval_needed(draft) is True
    with pytest.raises(OfferError) as refused:
        services.offer_send(version=draft, actor=rep)
    assert refused.value.code == "approval_required"
    assert OfferVersion.objects.get(pk=draft.pk).status == VersionStatus.DRAFT


def test_limit_comes_from_the_settings(draft, rep, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "OFFER_DISCOUNT_APPROVAL_LIMIT": 5}
    assert services.approval_needed(draft) is True  # the fixture's 10 % licence discount


def test_manager_of_the_team_approves_and_the_approval_is_recorded(draft, rep, manager):
    services.line_update(line=draft.lines.first(), actor=rep, discount_percent="25")
    services.offer_request_approval(version=draft, actor=rep)
    assert Notification.objects.filter(recipient=manager, kind=EventKind.APPROVAL_REQUESTED).count() == 1
    services.offer_approve(version=draft, approver=manager)
    draft.refresh_from_db()
    assert draft.approved_by == manager and draft.approved_at is not None and draft.approved_discount == D("25.00")
    assert draft.events.filter(kind=EventKind.APPROVED, actor=manager).exists()
    version, _token = services.offer_send(version=draft, actor=rep)
    assert version.status == VersionStatus.SENT


def test_rep_cannot_approve_their_own_offer_nor_can_another_teams_manager(draft, rep, manager):
    services.line_update(line=draft.lines.first(), actor=rep, discount_percent="25")
    other_team = TeamFactory(name="South")
    other_manager = UserFactory(username="sam", role="manager", team=other_team)
    teammate = UserFactory(username="tom", role="rep", team=rep.team)
    for who in (rep, other_manager, teammate):
        with pytest.raises(OfferError) as refused:
            services.offer_approve(version=draft, approver=who)
        assert refused.value.code == "not_approver"
    draft.refresh_from_db()
    assert draft.approved_by is None


def test_manager_cannot_approve_a_discount_on_their_own_deal(manager, stages, licence):
    from tests.factories import DealFactory

    deal = DealFactory(owner=manager, stage=stages["Negotiation"])
    version = services.offer_create(deal=deal, actor=manager)
    services.line_add(version=version, actor=manager, product=licence, discount_percent="30")
    with pytest.raises(OfferError):
        services.offer_approve(version=version, approver=manager)


def test_changing_a_line_after_approval_needs_a_new_approval(draft, rep, manager):
    line = draft.lines.first()
    services.line_update(line=line, actor=rep, discount_percent="20")
    services.offer_approve(version=draft, approver=manager)
    services.line_update(line=line, actor=rep, discount_percent="30")
    draft.refresh_from_db()
    assert draft.approved_by is None
    assert services.approval_needed(draft) is True


# --- Sending and the deal's amount -----------------------------------------------------------


def test_send_stores_only_the_token_hash_and_emails_the_link(draft, rep, offer_deal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        version, token = services.offer_send(version=draft, actor=rep, base_url="https://crm.example")
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert version.token_hash == services.token_hash(token) != token
    assert not OfferVersion.objects.filter(token_hash=token).exists()
    assert version.document_hash == current_hash(version)
    assert version.token_expires_at > timezone.now()
    assert [m.to for m in mail.outbox] == [["jane@acme.example"]]
    assert f"https://crm.example/p/{token}/" in mail.outbox[0].body


def test_offer_in_german_for_a_german_organization(draft):
    assert draft.language == "de"


def test_deal_amount_follows_the_sent_offer_through_deal_update(sent, offer_deal, rep):
    version, _token = sent
    offer_deal.refresh_from_db()
    # 10 × 49.90 − 10 % = 449.10; 3 × 19.99 = 59.97 → 509.07 net
    assert offer_deal.amount == D("509.07")
    change = DealChange.objects.get(deal=offer_deal, field="amount")
    assert (change.old_value, change.new_value, change.actor) == ("500.00", "509.07", rep)


def test_sent_version_cannot_be_edited_and_a_new_version_supersedes_it(sent, rep, book):
    version, token = sent
    with pytest.raises(OfferError):
        services.line_add(version=version, actor=rep, product=book)
    v2 = services.offer_revise(version=version, actor=rep)
    assert v2.number == 2 and v2.status == VersionStatus.DRAFT and v2.lines.count() == 2
    services.offer_send(version=v2, actor=rep)
    version.refresh_from_db()
    assert version.status == VersionStatus.SUPERSEDED
    with pytest.raises(LinkUnavailable):
        services.link_check(services.version_for_token(token))


def test_a_new_link_replaces_the_old_one(sent, rep):
    version, old = sent
    version, new = services.offer_resend(version=version, actor=rep)
    assert new != old
    with pytest.raises(LinkUnavailable):
        services.offer_accept(token=old, name="Jane Doe", document_hash=version.document_hash)
    response, created = services.offer_accept(token=new, name="Jane Doe", document_hash=version.document_hash)
    assert created


def test_withdrawn_link_stops_working(sent, rep):
    version, token = sent
    services.offer_withdraw(version=version, actor=rep)
    with pytest.raises(LinkUnavailable) as closed:
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert closed.value.code == "withdrawn"


def test_marking_the_deal_lost_withdraws_its_links(sent, rep, offer_deal, django_capture_on_commit_callbacks):
    version, _token = sent
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_services.deal_mark_lost(deal=offer_deal, reason=lost_reason(), actor=rep)
    version.refresh_from_db()
    assert version.status == VersionStatus.WITHDRAWN


# --- The link: expiry, one-time use, tampering -----------------------------------------------


def test_expired_link_is_refused(sent):
    version, token = sent
    expire(version)
    with pytest.raises(LinkUnavailable) as closed:
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert closed.value.code == "expired"
    assert not OfferResponse.objects.exists()


def test_link_expires_at_the_end_of_the_validity_date(draft, rep):
    draft.valid_until = timezone.localdate() + timedelta(days=3)
    draft.save()
    version, _token = services.offer_send(version=draft, actor=rep)
    assert timezone.localtime(version.token_expires_at).date() == draft.valid_until + timedelta(days=1)


def test_expire_task_marks_run_out_offers(sent):
    version, _token = sent
    expire(version)
    assert services.offers_expire() == 1
    assert services.offers_expire() == 0
    version.refresh_from_db()
    assert version.status == VersionStatus.EXPIRED


def test_wrong_token_is_refused(sent):
    version, token = sent
    for wrong in ("", token[:-1], token + "x", token.upper(), "a" * 300):
        with pytest.raises(LinkUnavailable):
            services.offer_accept(token=wrong, name="Jane Doe", document_hash=version.document_hash)
    assert not OfferResponse.objects.exists()


def test_document_changed_after_sending_is_refused(sent):
    version, token = sent
    seen = version.document_hash
    # Someone changes a price behind the customer's back (the UI cannot; the database can).
    OfferLine.objects.filter(version=version).update(unit_price=D("1.00"))
    assert current_hash(version) != seen
    with pytest.raises(StaleDocument):
        services.offer_accept(token=token, name="Jane Doe", document_hash=seen)
    with pytest.raises(StaleDocument):  # even when the client posts the new hash
        services.offer_accept(token=token, name="Jane Doe", document_hash=current_hash(version))
    version.refresh_from_db()
    assert version.status == VersionStatus.SENT
    assert not OfferResponse.objects.exists()


def test_a_made_up_document_hash_is_refused(sent):
    _version, token = sent
    with pytest.raises(StaleDocument):
        services.offer_accept(token=token, name="Jane Doe", document_hash="0" * 64)


# --- Acceptance ------------------------------------------------------------------------------


def test_acceptance_records_the_signature_and_wins_the_deal_once(sent, offer_deal, rep, django_capture_on_commit_callbacks):
    version, token = sent
    with django_capture_on_commit_callbacks(execute=True):
        response, created = services.offer_accept(
            token=token, name="  Jane   Doe ", document_hash=version.document_hash, ip_address="203.0.113.9",
            user_agent="Mozilla/5.0 Test",
        )
    assert created is True
    assert (response.name, response.ip_address, response.user_agent) == ("Jane Doe", "203.0.113.9", "Mozilla/5.0 Test")
    assert response.document_hash == version.document_hash and '"offer":"OF-' in response.document
    assert response.net_total == D("509.07") and response.gross_total == D("598.60")  # tax 85.33 (19 % of 449.10 = 85.329) + 4.20 (7 % of 59.97 = 4.1979)
    version.refresh_from_db()
    assert version.status == VersionStatus.ACCEPTED

    offer_deal.refresh_from_db()
    assert offer_deal.status == DealStatus.WON and offer_deal.stage.name == "Retention"
    move = StageChange.objects.get(deal=offer_deal, to_status=DealStatus.WON)
    assert move.actor is None and move.actor_label == "Customer: Jane Doe (online acceptance)"
    # The won stage needs an expected close date; a signed offer closes the deal today.
    assert offer_deal.expected_close == timezone.localdate()
    assert DealChange.objects.filter(deal=offer_deal, field="expected_close", actor_label__startswith="Customer").exists()
    assert response.deal_moved is True

    assert Notification.objects.filter(recipient=rep, kind=EventKind.ACCEPTED).count() == 1
    assert any("jane" not in m.to[0] and "Jane Doe accepted" in m.body for m in mail.outbox)
    copy = next(m for m in mail.outbox if m.to == ["jane@acme.example"] and m.attachments)
    assert copy.attachments[0][2] == "application/pdf" and response.document_hash in copy.body

    # The second click: same answer, nothing moves again.
    again, created = services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert created is False and again.pk == response.pk
    assert StageChange.objects.filter(deal=offer_deal, to_status=DealStatus.WON).count() == 1
    assert OfferResponse.objects.count() == 1
    # …and the link shows nothing of the offer any more.
    with pytest.raises(LinkUnavailable):
        services.link_check(services.version_for_token(token))


def test_sequential_double_submit_moves_the_deal_once(sent, offer_deal):
    version, token = sent
    results = [
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
        for _ in range(2)
    ]
    assert [created for _r, created in results] == [True, False]
    assert StageChange.objects.filter(deal=offer_deal, to_status=DealStatus.WON).count() == 1
    assert Notification.objects.filter(kind=EventKind.ACCEPTED).count() == 1


def test_acceptance_needs_a_name_and_a_package_when_there_are_packages(offer_deal, rep, licence):
    version = services.offer_create(deal=offer_deal, actor=rep)
    basic = services.package_add(version=version, actor=rep, name="Basic")
    premium = services.package_add(version=version, actor=rep, name="Premium")
    services.line_add(version=version, actor=rep, product=licence, quantity="1", package=basic)
    services.line_add(version=version, actor=rep, product=licence, quantity="3", package=premium)
    version, token = services.offer_send(version=version, actor=rep)
    offer_deal.refresh_from_db()
    assert offer_deal.amount == D("49.90")  # the first package when none is recommended
    with pytest.raises(OfferError):
        services.offer_accept(token=token, name="", document_hash=version.document_hash, package_id=premium.pk)
    with pytest.raises(OfferError):
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    response, _ = services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash,
                                        package_id=premium.pk)
    assert response.package == premium and response.net_total == D("149.70")
    offer_deal.refresh_from_db()
    assert offer_deal.amount == D("149.70")  # the deal follows the accepted package


def test_acceptance_is_recorded_even_when_the_pipeline_refuses_the_move(sent, offer_deal, stages):
    from pipeline.models import Transition

    Transition.objects.filter(to_stage=stages["Retention"]).delete()
    version, token = sent
    response, _ = services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert response.deal_moved is False and "cannot move" in response.note
    offer_deal.refresh_from_db()
    assert offer_deal.status == DealStatus.OPEN
    note = Notification.objects.get(kind=EventKind.ACCEPTED)
    assert "could not be moved" in note.message


def test_accepted_offer_cannot_be_edited_only_superseded(sent, rep, book):
    version, token = sent
    services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    version.refresh_from_db()
    with pytest.raises(OfferError):
        services.version_update(version=version, actor=rep, situation="changed")
    with pytest.raises(OfferError):
        services.offer_withdraw(version=version, actor=rep)
    v2 = services.offer_revise(version=version, actor=rep)
    services.line_add(version=v2, actor=rep, product=book)
    _v2, token2 = services.offer_send(version=v2, actor=rep)
    version.refresh_from_db()
    assert version.status == VersionStatus.ACCEPTED  # until the new version is accepted
    services.offer_accept(token=token2, name="Jane Doe", document_hash=current_hash(v2))
    version.refresh_from_db()
    assert version.status == VersionStatus.SUPERSEDED and version.response.kind == "accepted"


# --- Declining -------------------------------------------------------------------------------


def test_decline_records_the_reason_and_leaves_the_deal(sent, offer_deal, rep):
    version, token = sent
    with pytest.raises(OfferError):
        services.offer_decline(token=token, reason="  ")
    response, created = services.offer_decline(token=token, reason="Too expensive for us", name="Jane Doe",
                                               ip_address="203.0.113.9")
    assert created and response.kind == "declined" and response.reason == "Too expensive for us"
    offer_deal.refresh_from_db()
    assert offer_deal.status == DealStatus.OPEN and offer_deal.stage.name == "Negotiation"
    assert Notification.objects.filter(recipient=rep, kind=EventKind.DECLINED).exists()
    with pytest.raises(LinkUnavailable):
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)


# --- Products and price lists ----------------------------------------------------------------


def test_line_takes_the_price_list_price_and_refuses_a_foreign_currency(offer_deal, rep, licence):
    from offers.models import PriceList, PriceListItem, Product

    partner = PriceList.objects.create(name="Partner", currency="EUR")
    PriceListItem.objects.create(price_list=partner, product=licence, price=D("39.00"))
    version = services.offer_create(deal=offer_deal, actor=rep, price_list=partner)
    line = services.line_add(version=version, actor=rep, product=licence, quantity="2")
    assert (line.unit_price, line.tax_rate, line.unit, line.description) == (D("39.00"), D("19.00"), "licence", licence.name)
    dollars = Product.objects.create(name="US support", list_price=D("100"), currency="USD", tax_rate=D("0"))
    with pytest.raises(OfferError) as refused:
        services.line_add(version=version, actor=rep, product=dollars)
    assert refused.value.code == "currency"
    licence.is_active = False
    licence.save()
    with pytest.raises(OfferError):
        services.line_add(version=version, actor=rep, product=licence)


def test_seed_offers_sends_demo_offers_once(offer_deal):
    from django.core.management import call_command

    call_command("seed_offers", "--deals", "3")
    version = offer_deal.offers.get().versions.get()
    assert version.status == VersionStatus.SENT and version.lines.exists()
    call_command("seed_offers", "--deals", "3")
    assert offer_deal.offers.count() == 1
    from tests.factories import DealFactory

    newcomer = DealFactory(owner=offer_deal.owner, stage=offer_deal.stage)
    call_command("seed_offers", "--if-empty")  # make run: offers exist, so nothing changes
    assert not newcomer.offers.exists()


def test_approval_request_without_a_team_manager_goes_to_the_admins(draft, rep, admin_user):
    services.line_update(line=draft.lines.first(), actor=rep, discount_percent="40")
    services.offer_request_approval(version=draft, actor=rep)
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["ada"]


def test_editing_the_organization_after_sending_changes_neither_the_document_nor_its_hash(sent, offer_deal, settings, rep):
    version, token = sent
    offer_deal.organization.name = "Acme Holding SE"
    offer_deal.organization.save()
    person_update(person=offer_deal.organization.main_contact, actor=rep, name="John Roe")
    version.offer.title = "Renamed"
    version.offer.save()
    settings.STAGEFLOW = {**settings.STAGEFLOW, "COMPANY_NAME": "Other Company Ltd"}
    assert current_hash(version) == version.document_hash
    response, created = services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert created and '"company":"Acme GmbH"' in response.document and '"title":"CRM for Acme"' in response.document


# --- The e-mails go through the outbox ----------------------------------------------------------


@pytest.fixture
def broker_down(monkeypatch):
    """A worker set-up whose broker is down: handing messages over after the commit fails. Call
    the returned function when it is back (then tasks run in this process again)."""
    from config.celery import app as celery_app
    from outbox import tasks as outbox_tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to the broker")

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(outbox_tasks.outbox_dispatch, "delay", unreachable)

    def back():
        monkeypatch.setitem(celery_app.conf, "task_always_eager", True)

    return back


def test_the_link_emailed_once_sent_is_not_kept_in_the_outbox(draft, rep, django_capture_on_commit_callbacks):
    from outbox.models import OutboxMessage

    with django_capture_on_commit_callbacks(execute=True):
        _version, token = services.offer_send(version=draft, actor=rep, base_url="https://crm.example")

    assert f"https://crm.example/p/{token}/" in mail.outbox[0].body
    message = OutboxMessage.objects.get(handler="offers.link_email")
    assert message.dispatched_at is not None and "url" not in message.payload and token not in str(message.payload)


def test_an_offer_sent_and_accepted_while_the_broker_is_down_emails_when_the_sweep_runs(
    draft, rep, broker_down, django_capture_on_commit_callbacks
):
    from outbox import tasks as outbox_tasks
    from outbox.models import OutboxMessage

    with django_capture_on_commit_callbacks(execute=True):
        version, token = services.offer_send(version=draft, actor=rep, base_url="https://crm.example")
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert mail.outbox == [], "nothing could be sent yet"
    waiting = set(OutboxMessage.objects.filter(dispatched_at__isnull=True).values_list("handler", flat=True))
    assert {"offers.link_email", "offers.accepted_copy_email", "offers.notification_email"} <= waiting

    broker_down()  # back
    outbox_tasks.outbox_sweep.apply(kwargs={"grace_seconds": 0})

    bodies = [m.body for m in mail.outbox]
    assert any(f"https://crm.example/p/{token}/" in body for body in bodies), "the customer gets the link"
    assert any(m.attachments for m in mail.outbox), "and the signed copy"
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True).exists()


def test_an_accepted_package_that_changes_the_amount_is_noted_in_history_and_told_to_the_owner(
    offer_deal, rep, licence
):
    version = services.offer_create(deal=offer_deal, actor=rep)
    basic = services.package_add(version=version, actor=rep, name="Basic")
    premium = services.package_add(version=version, actor=rep, name="Premium")
    services.line_add(version=version, actor=rep, product=licence, quantity="1", package=basic)
    services.line_add(version=version, actor=rep, product=licence, quantity="3", package=premium)
    version, token = services.offer_send(version=version, actor=rep)
    sent_change = DealChange.objects.filter(deal=offer_deal, field="amount").latest("at", "pk")
    assert sent_change.new_value == "49.90" and sent_change.note == f"Follows the sent offer {version}."

    services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash, package_id=premium.pk)

    change = DealChange.objects.filter(deal=offer_deal, field="amount").latest("at", "pk")
    assert (change.old_value, change.new_value) == ("49.90", "149.70")
    assert change.note == f"Follows the accepted offer {version}, package “Premium”."
    assert change.actor_label == "Customer: Jane Doe (online acceptance)"
    message = Notification.objects.get(recipient=rep, kind=EventKind.ACCEPTED).message
    assert message.endswith("Its amount changed from 49.90 EUR to 149.70 EUR.")


def test_an_accepted_offer_that_keeps_the_amount_tells_no_change(sent, offer_deal, rep):
    version, token = sent
    services.offer_accept(token=token, name="Jane Doe", document_hash=version.document_hash)
    assert "amount changed" not in Notification.objects.get(recipient=rep, kind=EventKind.ACCEPTED).message


def test_the_link_goes_to_the_deals_decision_maker_before_the_organisations_main_contact(
    draft, offer_deal, rep, django_capture_on_commit_callbacks,
):
    from pipeline.models import ContactRole
    from pipeline.people import deal_contact_add, person_create

    champion = person_create(actor=rep, name="Carl Champion", organization=offer_deal.organization, emails=["carl@acme.example"])
    boss = person_create(actor=rep, name="Dora Decider", organization=offer_deal.organization, emails=["dora@acme.example"])
    silent = person_create(actor=rep, name="No Mail", organization=offer_deal.organization, phones=["030 1234567"])
    deal_contact_add(deal=offer_deal, person=champion, role=ContactRole.objects.get(name="Champion"), actor=rep)
    deal_contact_add(deal=offer_deal, person=silent, role=ContactRole.objects.get(name="Decision maker"), actor=rep)
    deal_contact_add(deal=offer_deal, person=boss, role=ContactRole.objects.get(name="Decision maker"), actor=rep)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        version, _token = services.offer_send(version=draft, actor=rep, base_url="http://testserver")
    # The decision maker with an e-mail address; the one without cannot receive it.
    assert [m.to for m in mail.outbox] == [["dora@acme.example"]] and "Tag Dora Decider," in mail.outbox[0].body  # the German greeting: a German organisation
    assert version.sent_contact == "Dora Decider"


def test_without_contacts_on_the_deal_the_link_goes_to_the_main_contact(draft, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.offer_send(version=draft, actor=draft.offer.deal.owner, base_url="http://testserver")
    assert [m.to for m in mail.outbox] == [["jane@acme.example"]]
