"""The mailbox page, the secret at rest, sync now, threads on timelines and who sees them."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mail import crypto, services
from mail.models import Mailbox, Thread
from pipeline.models import ContactRole
from pipeline.people import deal_contact_add, person_create
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory
from tests.mail.helpers import customer_on_deal

pytestmark = pytest.mark.django_db

FORM = {
    "email_address": "rita@example.test", "username": "rita@example.test", "auth_method": "password",
    "imap_host": "imap.example.test", "imap_port": 993, "imap_security": "ssl", "smtp_host": "smtp.example.test",
    "smtp_port": 587, "smtp_security": "starttls", "sent_folder": "", "sync_days": 30, "share_by_default": "on",
    "is_active": "on",
}


def test_the_password_is_stored_encrypted_and_never_shown_again(client, rep):
    client.force_login(rep)
    response = client.post("/mail/settings/", {**FORM, "secret": "app-pass-9f8e7d"})
    assert response.status_code == 302
    mailbox = Mailbox.objects.get(user=rep)
    assert "app-pass-9f8e7d" not in mailbox.secret
    assert crypto.decrypt(mailbox.secret) == "app-pass-9f8e7d"
    page = client.get("/mail/settings/")
    assert "app-pass-9f8e7d" not in page.content.decode() and mailbox.secret not in page.content.decode()
    assert page["Cache-Control"] == "no-store"


def test_saving_without_a_password_keeps_the_stored_one(client, rep):
    client.force_login(rep)
    client.post("/mail/settings/", {**FORM, "secret": "first-secret"})
    client.post("/mail/settings/", {**FORM, "imap_port": 1993, "secret": ""})
    mailbox = Mailbox.objects.get(user=rep)
    assert mailbox.imap_port == 1993 and crypto.decrypt(mailbox.secret) == "first-secret"


def test_a_new_mailbox_needs_a_password_and_sensible_days(client, rep):
    client.force_login(rep)
    response = client.post("/mail/settings/", {**FORM, "secret": "", "sync_days": 0})
    assert response.status_code == 400
    assert not Mailbox.objects.exists()
    assert "Between 1 and 365 days." in response.content.decode()


def test_without_a_key_and_without_debug_no_secret_is_stored(client, rep, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "MAIL_KEYS": []}
    settings.DEBUG = False
    client.force_login(rep)
    response = client.post("/mail/settings/", {**FORM, "secret": "x"})
    assert response.status_code == 400
    assert "STAGEFLOW_MAIL_KEY" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_debug_has_a_development_key(settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "MAIL_KEYS": []}
    settings.DEBUG = True
    assert crypto.decrypt(crypto.encrypt("s")) == "s"


def test_a_rotated_key_still_reads_secrets_of_the_old_one(settings):
    from cryptography.fernet import Fernet

    old = settings.STAGEFLOW["MAIL_KEYS"][0]
    token = crypto.encrypt("kept")
    settings.STAGEFLOW = {**settings.STAGEFLOW, "MAIL_KEYS": [Fernet.generate_key().decode(), old]}
    assert crypto.decrypt(token) == "kept"


def test_sync_now_in_laptop_mode_runs_the_sync_in_the_background_thread(client, rep, background_jobs):
    client.force_login(rep)
    client.post("/mail/settings/", {**FORM, "secret": "s"})
    response = client.post("/mail/settings/sync/")
    assert response.status_code == 302
    assert [job for job, args in background_jobs] == [services.mailbox_sync_run]
    assert background_jobs[0][1] == (Mailbox.objects.get(user=rep).pk,)


def test_two_syncs_of_one_mailbox_never_run_at_once(rep, monkeypatch):
    from config.locks import cache_lock
    from mail import sync

    mailbox = services.mailbox_save(user=rep, values={k: v for k, v in FORM.items() if k in services.MAILBOX_FIELDS and k not in ("share_by_default", "is_active")}, secret="s")
    ran = []
    monkeypatch.setattr(sync, "mailbox_sync", lambda mb: ran.append(mb.pk))
    with cache_lock(f"mail:sync:{mailbox.pk}", timeout=60):
        assert services.mailbox_sync_run(mailbox.pk) is None
    services.mailbox_sync_run(mailbox.pk)
    assert ran == [mailbox.pk]


def test_disconnect_forgets_settings_and_secret_but_keeps_the_mail(client, rep):
    client.force_login(rep)
    client.post("/mail/settings/", {**FORM, "secret": "s"})
    Thread.objects.create(owner=rep, subject="Kept")
    client.post("/mail/settings/disconnect/")
    assert not Mailbox.objects.exists() and Thread.objects.filter(subject="Kept").exists()


@pytest.fixture
def teams(db):
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    people = {
        "rita": UserFactory(username="rita", role="rep", team=north),
        "tom": UserFactory(username="tom", role="rep", team=north),
        "olga": UserFactory(username="olga", role="rep", team=south),
        "max": UserFactory(username="max", role="manager", team=north),
        "ada": UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True),
    }
    north.manager = people["max"]
    north.save()
    return people


def _thread(owner, deal, person, *, private=False, subject="Offer"):
    thread = Thread.objects.create(owner=owner, subject=subject, is_private=private, message_count=1)
    thread.deals.add(deal)
    thread.persons.add(person)
    thread.organizations.add(deal.organization)
    return thread


def test_a_shared_thread_follows_its_deal_and_a_private_one_is_its_owners_only(teams, client, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "REPS_SEE_TEAM_DEALS": True}
    person, deal = customer_on_deal(teams["rita"])
    shared = _thread(teams["rita"], deal, person, subject="Shared offer talk")
    private = _thread(teams["rita"], deal, person, private=True, subject="Private offer talk")
    for who, sees_shared in (("rita", True), ("tom", True), ("max", True), ("ada", True), ("olga", False)):
        client.force_login(teams[who])
        assert client.get(f"/mail/threads/{shared.pk}/").status_code == (200 if sees_shared else 404), who
        page = client.get(deal.get_absolute_url())
        if page.status_code == 200:
            assert ("Shared offer talk" in page.content.decode()) == sees_shared, who
            assert ("Private offer talk" in page.content.decode()) == (who == "rita"), who
        expected = 200 if who == "rita" else 404
        assert client.get(f"/mail/threads/{private.pk}/").status_code == expected, who


def test_only_the_owner_makes_a_thread_private_and_then_the_team_no_longer_sees_it(teams, client):
    person, deal = customer_on_deal(teams["rita"])
    thread = _thread(teams["rita"], deal, person)
    client.force_login(teams["max"])
    assert client.post(f"/mail/threads/{thread.pk}/privacy/", {"private": "on"}).status_code == 403
    client.force_login(teams["rita"])
    client.post(f"/mail/threads/{thread.pk}/privacy/", {"private": "on"})
    thread.refresh_from_db()
    assert thread.is_private
    client.force_login(teams["max"])
    assert client.get(f"/mail/threads/{thread.pk}/").status_code == 404


def test_threads_on_the_person_and_organisation_timelines_cost_one_query_whatever_their_number(teams, client, django_assert_max_num_queries):
    person, deal = customer_on_deal(teams["rita"])
    _thread(teams["rita"], deal, person, subject="First thread")
    client.force_login(teams["rita"])
    with CaptureQueriesContext(connection) as one:
        page = client.get(person.get_absolute_url())
    assert "First thread" in page.content.decode()
    for n in range(10):
        _thread(teams["rita"], deal, person, subject=f"Thread {n}")
    with django_assert_max_num_queries(len(one)):
        page = client.get(person.get_absolute_url())
    assert "Thread 9" in page.content.decode()
    organization_page = client.get(deal.organization.get_absolute_url()).content.decode()
    assert "Thread 9" in organization_page


def test_a_shared_thread_on_no_deal_is_seen_with_its_person_by_the_owners_colleagues_only(teams, client, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "SHARED_ADDRESS_BOOK": True}
    organization = OrganizationFactory(name="Nobody's deal GmbH", owner=teams["rita"])
    person = person_create(actor=teams["rita"], name="Lea Lose", organization=organization, owner=teams["rita"], emails=["lea@x.example"])
    thread = Thread.objects.create(owner=teams["rita"], subject="Just talking")
    thread.persons.add(person)
    client.force_login(teams["tom"])
    assert client.get(f"/mail/threads/{thread.pk}/").status_code == 200
    client.force_login(teams["olga"])  # sees the person (shared address book), not rita's mail
    assert client.get(f"/mail/threads/{thread.pk}/").status_code == 404


def test_merging_people_moves_their_threads_and_erasing_one_deletes_their_mail(teams):
    from mail.directory import merge_move, person_erase
    from mail.models import Message
    from django.utils import timezone

    person, deal = customer_on_deal(teams["rita"])
    twin = person_create(actor=teams["rita"], name="Anna B.", organization=deal.organization, owner=teams["rita"], emails=["anna@two.example"])
    deal_contact_add(deal=deal, person=twin, role=ContactRole.objects.order_by("position").first(), actor=teams["rita"])
    thread = _thread(teams["rita"], deal, twin)
    Message.objects.create(owner=teams["rita"], thread=thread, message_key="k1", from_address="anna@two.example", sent_at=timezone.now(), body_text="private words")
    merge_move(kind="person", source=twin, target=person, actor=teams["rita"])
    assert list(thread.persons.all()) == [person]

    erased = person_erase(person=twin)  # nothing left on the twin
    assert erased["mail.thread"] == 0
    person.emails.create(address="anna@two.example")
    erased = person_erase(person=person)
    assert erased["mail.thread"] == 1 and not Message.objects.exists()
