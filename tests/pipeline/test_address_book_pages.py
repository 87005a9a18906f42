"""The address book's pages: the organisation and person pages, the organisation and people lists,
the person forms and the organisation form's main contact, through the test client."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ConfigChange
from activities import services as activities
from pipeline.address_book import TIMELINE_STEP
from pipeline.models import ContactRole, DealStatus, Organization, Person, PersonEmail, PersonPhone
from pipeline.people import EmailValue, PhoneValue, deal_contact_add, person_create
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def teammate(team):
    return UserFactory(username="sam", role="rep", team=team)


@pytest.fixture
def outsider(db):
    return UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def roles(db):
    return {role.name: role for role in ContactRole.objects.all()}


@pytest.fixture
def acme(rep):
    """A customer with an address, domains and a main contact."""
    return OrganizationFactory(
        name="Acme Maschinenbau GmbH", owner=rep, domains="acme.example acme-gruppe.example", website="https://www.acme.example",
        phone="+49 89 123 456-0", street="Industriestraße 4", postal_code="80331", city="München", country="DE",
        industry="Mechanical engineering", company_size="51-200", contact_name="Petra Huber",
        contact_email="petra.huber@acme.example", customer_since=date(2024, 3, 1),
    )


def queries_for(client, url, **extra) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.status_code
    return len(queries)


def _people(organization, owner, count, roles=None, deal=None):
    made = []
    for i in range(count):
        person = person_create(
            actor=owner, name=f"Person {organization.pk}-{i}", organization=organization, owner=owner, job_title="Buyer",
            emails=[f"p{i}@{organization.pk}.example"], phones=[f"+49 30 {1000 + i}"],
        )
        if deal is not None:
            deal_contact_add(deal=deal, person=person, role=roles[i % len(roles)] if roles else None, actor=owner)
        made.append(person)
    return made


# --- The organisation page -----------------------------------------------------------------------


def test_the_organisation_page_shows_its_details_deals_by_status_people_with_roles_and_one_timeline(rep_client, rep, acme, stages, roles):
    open_deal = DealFactory(owner=rep, organization=acme, stage=stages["Offer"], title="Line 2 retrofit", amount=Decimal("48000"))
    won = DealFactory(owner=rep, organization=acme, stage=stages["Retention"], title="Spare parts contract", status=DealStatus.WON,
                      closed_at=timezone.now() - timedelta(days=30))
    DealFactory(owner=rep, organization=acme, stage=stages["Qualification"], title="Robot cell", status=DealStatus.LOST,
                lost_reason=lost_reason(), closed_at=timezone.now() - timedelta(days=60))
    buyer = person_create(actor=rep, name="Jonas Berg", organization=acme, owner=rep, job_title="Head of purchasing",
                          emails=["jonas.berg@acme.example"], phones=["+49 89 123 456-22"])
    deal_contact_add(deal=open_deal, person=buyer, role=roles["Economic buyer"], actor=rep)
    deal_contact_add(deal=won, person=buyer, role=roles["Champion"], actor=rep)
    activities.note_create(actor=rep, organization=acme, body="Visited the plant")
    activities.activity_create(actor=rep, organization=acme, kind="meeting", title="Annual review", due_at=timezone.now() + timedelta(days=3))

    response = rep_client.get(acme.get_absolute_url())
    assert response.status_code == 200
    body = text(response)
    for shown in ("acme.example", "acme-gruppe.example", "https://www.acme.example", "+49 89 123 456-0", "Industriestraße 4",
                  "80331 München", "Mechanical engineering", "51–200 employees", "Petra Huber", "Customer since",
                  "March 1, 2024", "Fit to the ideal customer profile"):
        assert shown in body, shown
    groups = {g.status: g for g in response.context["deal_groups"]}
    assert [d.title for d in groups["open"].deals] == ["Line 2 retrofit"]
    assert [d.title for d in groups["won"].deals] == ["Spare parts contract"]
    assert [d.title for d in groups["lost"].deals] == ["Robot cell"] and groups["lost"].count == 1
    assert groups["open"].totals == [("EUR", Decimal("48000.00"))]
    people = {p.name: p for p in response.context["people"]}
    assert set(people) == {"Petra Huber", "Jonas Berg"} and people["Petra Huber"].is_main_contact
    assert [(c.deal.title, str(c.role)) for c in people["Jonas Berg"].deal_roles] == [
        ("Spare parts contract", "Champion"), ("Line 2 retrofit", "Economic buyer"),
    ]
    assert "Head of purchasing" in body and "jonas.berg@acme.example" in body and "+49 89 123 456-22" in body
    assert "Annual review" in body  # the next activities
    kinds = [entry.kind for entry in response.context["timeline"].entries]
    assert kinds[0] == "note" and {"stage", "person", "note"} <= set(kinds)
    # Add a person or a deal from here.
    assert f'href="{reverse("pipeline:person_create")}?organization={acme.pk}"' in body
    assert f'href="{reverse("pipeline:deal_create")}?organization={acme.pk}"' in body


def test_a_new_deal_from_the_organisation_page_starts_at_that_organisation(rep_client, acme):
    response = rep_client.get(reverse("pipeline:deal_create"), {"organization": acme.pk})
    assert f'value="{acme.name} (#{acme.pk})"' in text(response)


def test_the_timeline_shows_the_newest_entries_and_more_on_request(rep_client, rep, acme):
    start = timezone.now() - timedelta(days=100)
    for day in range(TIMELINE_STEP + 5):
        note = activities.note_create(actor=rep, organization=acme, body=f"Note number {day}")
        note.created_at = start + timedelta(days=day)
        note.save(update_fields=["created_at"])
    page = rep_client.get(acme.get_absolute_url())
    timeline = page.context["timeline"]
    assert len(timeline.entries) == TIMELINE_STEP and timeline.has_more
    notes = [entry.row.body for entry in timeline.entries if entry.kind == "note"]
    assert notes[:2] == [f"Note number {TIMELINE_STEP + 4}", f"Note number {TIMELINE_STEP + 3}"]  # newest first
    assert "Note number 0" not in text(page)
    more = f"{acme.get_absolute_url()}?timeline={TIMELINE_STEP * 2}"
    assert f'href="{more}#timeline"' in text(page)
    partial = rep_client.get(more, **HTMX)
    body = text(partial)
    assert body.lstrip().startswith("<section") and "<html" not in body and 'id="timeline"' in body
    assert "Note number 0" in body and not partial.context["timeline"].has_more
    # Without JavaScript the whole page comes with the longer timeline.
    full = rep_client.get(more)
    assert "<html" in text(full) and "Note number 0" in text(full)
    # A nonsense size falls back to the first page.
    assert len(rep_client.get(acme.get_absolute_url(), {"timeline": "lots"}).context["timeline"].entries) == TIMELINE_STEP


def test_the_organisation_page_runs_as_many_queries_with_more_deals_people_and_history(rep_client, rep, acme, stages, roles):
    def grow(n):
        for i in range(n):
            deal = DealFactory(owner=rep, organization=acme, stage=stages["Offer"], title=f"Deal {i}")
            _people(acme, rep, 2, roles=list(roles.values()), deal=deal)
            activities.note_create(actor=rep, deal=deal, body="On the deal")
            done = activities.activity_create(actor=rep, organization=acme, kind="call", title="Called", due_at=timezone.now())
            activities.activity_complete(activity=done, actor=rep)

    grow(1)
    url = acme.get_absolute_url()
    queries_for(rep_client, url)  # warm caches (content types, translations)
    few = queries_for(rep_client, url)
    grow(8)
    DealFactory(owner=rep, organization=acme, stage=stages["Retention"], status=DealStatus.WON)
    assert queries_for(rep_client, url) == few


def test_the_organisation_page_lists_a_bounded_number_of_deals_and_people(rep_client, rep, acme, stages):
    from pipeline import address_book

    for i in range(address_book.DEALS_PER_STATUS + 1):
        DealFactory(owner=rep, organization=acme, stage=stages["Offer"], title=f"Open deal {i}")
    _people(acme, rep, 3)
    page = rep_client.get(acme.get_absolute_url())
    open_group = page.context["deal_groups"][0]
    assert open_group.count == address_book.DEALS_PER_STATUS + 1 and len(open_group.deals) == address_book.DEALS_PER_STATUS
    assert "…and 1 more." in text(page)
    people, total = address_book.organization_people(rep, acme, limit=2)
    assert total == 4 and [p.name for p in people] == [f"Person {acme.pk}-0", f"Person {acme.pk}-1"]
    groups = address_book.organization_deal_groups(rep, acme, per_status=3)
    assert [len(g.deals) for g in groups] == [3, 0, 0] and groups[0].hidden == address_book.DEALS_PER_STATUS - 2


def test_the_organisation_page_shows_only_deals_one_sees_of_an_organisation_two_teams_sell_to(rep_client, rep, outsider, stages):
    shared = OrganizationFactory(name="Shared Werke AG", owner=None, contact_name="")
    DealFactory(owner=rep, organization=shared, stage=stages["Offer"], title="North's deal")
    DealFactory(owner=outsider, organization=shared, stage=stages["Offer"], title="South's deal")
    body = text(rep_client.get(shared.get_absolute_url()))
    assert "North&#x27;s deal" in body and "South&#x27;s deal" not in body


# --- The organisation form ----------------------------------------------------------------------------


def test_the_organisation_form_takes_domains_address_and_phone_and_names_a_main_contact_on_create(rep_client, rep):
    response = rep_client.post(reverse("pipeline:organization_create"), {
        "name": "Kessler Antriebe KG", "source": "event", "industry": "Mechanical engineering", "country": "at",
        "website": "kessler.example", "domains": "Kessler.example, kessler-antriebe.at", "phone": "+43 1 234 56",
        "street": "Ringstraße 1", "postal_code": "1010", "city": "Wien", "owner": rep.pk,
        "contact_name": "Eva Kessler", "contact_email": "eva@kessler.example", "contact_phone": "+43 664 123",
    })
    organization = Organization.objects.get(name="Kessler Antriebe KG")
    assert response.status_code == 302 and response["Location"] == organization.get_absolute_url()
    assert organization.domain_list == ["kessler.example", "kessler-antriebe.at"]
    assert (organization.phone, organization.street, organization.postal_code, organization.city, organization.country) == (
        "+43 1 234 56", "Ringstraße 1", "1010", "Wien", "AT")
    assert organization.main_contact.name == "Eva Kessler" and organization.main_contact.organization == organization


def test_an_existing_organisation_picks_its_main_contact_among_its_people(rep_client, rep, acme):
    jonas = person_create(actor=rep, name="Jonas Berg", organization=acme, owner=rep)
    elsewhere = person_create(actor=rep, name="Someone Else", organization=OrganizationFactory(owner=rep), owner=rep)
    url = reverse("pipeline:organization_edit", args=[acme.pk])
    form = rep_client.get(url).context["form"]
    assert "contact_name" not in form.fields and set(form.fields["main_contact"].queryset) == {acme.main_contact, jonas}
    data = {"name": acme.name, "source": acme.source, "country": "DE", "owner": rep.pk, "main_contact": elsewhere.pk}
    response = rep_client.post(url, data)
    assert response.status_code == 400 and "Choose one of the people at this organisation." in text(response)
    assert Organization.objects.get(pk=acme.pk).main_contact.name == "Petra Huber"
    assert rep_client.post(url, {**data, "main_contact": jonas.pk}).status_code == 302
    assert Organization.objects.get(pk=acme.pk).main_contact == jonas
    change = ConfigChange.objects.filter(object_id=str(acme.pk), object_repr=acme.name, action="update").latest("pk")
    assert "main_contact" in change.changes


# --- The organisations list ------------------------------------------------------------------------------


def test_the_organisations_list_shows_customers_and_prospects_with_people_and_open_deals(rep_client, rep, outsider, acme, stages):
    DealFactory(owner=rep, organization=acme, stage=stages["Retention"], status=DealStatus.WON)
    DealFactory(owner=rep, organization=acme, stage=stages["Offer"])
    prospect = OrganizationFactory(name="Birke Software AG", owner=rep, domains="birke.example", city="Köln")
    OrganizationFactory(name="Hidden Holding", owner=outsider)
    response = rep_client.get(reverse("pipeline:organization_list"))
    rows = {o.name: o for o in response.context["page"]}
    assert set(rows) == {"Acme Maschinenbau GmbH", "Birke Software AG"}
    assert rows["Acme Maschinenbau GmbH"].is_customer and rows["Acme Maschinenbau GmbH"].open_deal_count == 1
    assert rows["Acme Maschinenbau GmbH"].people_count == 1 and not rows["Birke Software AG"].is_customer
    assert "Hidden Holding" not in text(response)
    by = lambda **q: [o.name for o in rep_client.get(reverse("pipeline:organization_list"), q).context["page"]]
    assert by(q="birke.example") == ["Birke Software AG"] and by(q="köln") == ["Birke Software AG"]
    assert by(kind="customers") == ["Acme Maschinenbau GmbH"] and by(kind="prospects") == ["Birke Software AG"]
    assert by(kind="nonsense") == ["Acme Maschinenbau GmbH", "Birke Software AG"]
    assert by(kind="nonsense", q="birke") == ["Birke Software AG"]  # a bad filter leaves the search
    partial = text(rep_client.get(reverse("pipeline:organization_list"), {"q": "acme"}, **HTMX))
    assert "<html" not in partial and "Acme Maschinenbau GmbH" in partial and "Birke" not in partial
    assert prospect.get_absolute_url() in text(response)


def test_the_organisations_list_runs_as_many_queries_for_a_longer_page(rep_client, rep, stages):
    OrganizationFactory(owner=rep)
    url = reverse("pipeline:organization_list")
    queries_for(rep_client, url)
    few = queries_for(rep_client, url)
    for _ in range(12):
        DealFactory(owner=rep, organization=OrganizationFactory(owner=rep), stage=stages["Offer"])
    assert queries_for(rep_client, url) == few


def test_the_old_lead_list_address_still_leads_to_the_lead_list(rep_client):
    response = rep_client.get("/pipeline/leads/")
    assert response.status_code == 302 and response["Location"] == reverse("qualification:lead_list")


def test_the_top_bar_has_organisations_and_people_next_to_leads(rep_client):
    body = text(rep_client.get(reverse("pipeline:person_list")))
    leads, organizations, people = (body.index(f'href="{url}"') for url in (
        reverse("qualification:lead_list"), reverse("pipeline:organization_list"), reverse("pipeline:person_list")))
    assert leads < organizations < people
    assert 'aria-current="page" href="/pipeline/people/"' in body


# --- The person page ----------------------------------------------------------------------------------


@pytest.fixture
def jonas(rep, acme):
    return person_create(
        actor=rep, name="Jonas Berg", organization=acme, owner=rep, job_title="Head of purchasing", language="de",
        consent="granted", consent_source="Trade fair", consent_at=timezone.make_aware(datetime(2025, 4, 2, 10)),
        emails=[EmailValue("jonas.berg@acme.example", "work"), EmailValue("jonas@mail.example", "private")],
        phones=[PhoneValue("+49 89 123 456-22", "work"), PhoneValue("0171 2345678", "mobile")],
    )


def test_the_person_page_shows_everything_about_them(rep_client, rep, jonas, acme, stages, roles):
    deal = DealFactory(owner=rep, organization=acme, stage=stages["Offer"], title="Line 2 retrofit")
    deal_contact_add(deal=deal, person=jonas, role=roles["Decision maker"], actor=rep)
    activities.note_create(actor=rep, person=jonas, body="Prefers calls before nine")
    activities.activity_create(actor=rep, person=jonas, kind="call", title="Ask about the budget", due_at=timezone.now() + timedelta(days=1))
    response = rep_client.get(jonas.get_absolute_url())
    assert response.status_code == 200
    body = text(response)
    for shown in ("Jonas Berg", "Head of purchasing", "Acme Maschinenbau GmbH", "jonas.berg@acme.example", "jonas@mail.example",
                  "Private", "+49 89 123 456-22", "0171 2345678", "Mobile", "German", "Agreed to be contacted",
                  "Trade fair", "April 2, 2025", "Line 2 retrofit", "Decision maker", "Prefers calls before nine",
                  "Ask about the budget", "Added to the address book"):
        assert shown in body, shown
    assert body.index("jonas.berg@acme.example") < body.index("jonas@mail.example")
    kinds = [entry.kind for entry in response.context["timeline"].entries]
    assert kinds[0] == "note" and {"contact", "stage", "person"} <= set(kinds)
    assert f'href="{reverse("pipeline:person_edit", args=[jonas.pk])}"' in body


def test_the_person_page_runs_as_many_queries_for_more_deals_and_history(rep_client, rep, jonas, acme, stages, roles):
    def grow(n):
        for i in range(n):
            deal = DealFactory(owner=rep, organization=acme, stage=stages["Offer"], title=f"Deal {i}")
            deal_contact_add(deal=deal, person=jonas, role=list(roles.values())[i % 6], actor=rep)
            activities.note_create(actor=rep, person=jonas, body=f"Note {i}")

    grow(1)
    url = jonas.get_absolute_url()
    queries_for(rep_client, url)
    few = queries_for(rep_client, url)
    grow(7)
    assert queries_for(rep_client, url) == few


def test_who_sees_and_changes_a_person(client, rep, teammate, outsider, manager, jonas, acme, stages):
    DealFactory(owner=rep, organization=acme, stage=stages["Prospecting"])
    edit = reverse("pipeline:person_edit", args=[jonas.pk])
    for user, page, form in ((rep, 200, 200), (manager, 200, 200), (teammate, 200, 403), (outsider, 404, 404)):
        client.force_login(user)
        assert client.get(jonas.get_absolute_url()).status_code == page, user
        assert client.get(edit).status_code == form, user
        # an incomplete form: refused as such (400) to those who may change the person
        assert client.post(edit, {"name": "Changed"}).status_code == (400 if form == 200 else form), user
        if page == 200:
            assert (f'href="{edit}"' in text(client.get(jonas.get_absolute_url()))) == (form == 200)
    assert Person.objects.get(pk=jonas.pk).name == "Jonas Berg"
    assert client.get(reverse("pipeline:person_detail", args=[999999])).status_code == 404


def test_an_erased_person_shows_as_erased_and_cannot_be_edited(rep_client, jonas):
    Person.objects.filter(pk=jonas.pk).update(erased_at=timezone.now())
    body = text(rep_client.get(jonas.get_absolute_url()))
    assert "personal data was erased" in body and reverse("pipeline:person_edit", args=[jonas.pk]) not in body
    assert rep_client.get(reverse("pipeline:person_edit", args=[jonas.pk])).status_code == 403


# --- The person form --------------------------------------------------------------------------------


def person_data(**overrides) -> dict:
    data = {
        "name": "Mara Lind", "organization": "", "job_title": "CTO", "owner": "", "language": "en", "consent": "unknown",
        "consent_source": "", "consent_at": "",
        "emails-TOTAL_FORMS": "2", "emails-INITIAL_FORMS": "0", "emails-MIN_NUM_FORMS": "0", "emails-MAX_NUM_FORMS": "20",
        "emails-0-address": "mara@lind.example", "emails-0-kind": "work",
        "emails-1-address": "Mara.Lind@Private.example ", "emails-1-kind": "private",
        "phones-TOTAL_FORMS": "2", "phones-INITIAL_FORMS": "0", "phones-MIN_NUM_FORMS": "0", "phones-MAX_NUM_FORMS": "20",
        "phones-0-number": "+49 (30) 1234-56", "phones-0-kind": "mobile",
        "phones-1-number": "", "phones-1-kind": "work",
    }
    data.update(overrides)
    return data


def test_a_new_person_with_several_addresses_and_numbers_at_an_organisation(rep_client, rep, acme):
    page = rep_client.get(reverse("pipeline:person_create"), {"organization": acme.pk})
    assert f'value="{acme.name} (#{acme.pk})"' in text(page)
    response = rep_client.post(
        reverse("pipeline:person_create") + f"?organization={acme.pk}",
        person_data(organization=f"{acme.name} (#{acme.pk})", owner=rep.pk),
    )
    person = Person.objects.get(name="Mara Lind")
    assert response.status_code == 302 and response["Location"] == person.get_absolute_url()
    assert person.organization == acme and person.owner == rep and person.job_title == "CTO" and person.language == "en"
    assert [(e.address, e.kind) for e in person.emails.all()] == [
        ("mara@lind.example", "work"), ("mara.lind@private.example", "private")]
    assert [(p.number, p.kind) for p in person.phones.all()] == [("+49 (30) 1234-56", "mobile")]
    assert (person.email, person.phone) == ("mara@lind.example", "+49 (30) 1234-56")
    assert ConfigChange.objects.filter(object_id=str(person.pk), action="create").exists()


@pytest.mark.parametrize("bad, message, where", [
    ({"name": "  "}, "Name the person.", "name"),
    ({"emails-1-address": "mara(at)lind"}, "“mara(at)lind” is not an e-mail address.", "emails-1-address"),
    ({"phones-0-number": "call me"}, "“call me” is not a phone number.", "phones-0-number"),
    ({"organization": "No Such Company"}, "There is no company “No Such Company” that you can choose", "organization"),
    ({"consent_at": "31.02.2025"}, "Enter a valid date.", "consent_at"),
])
def test_bad_input_on_the_person_form_says_what_and_where_and_writes_nothing(rep_client, bad, message, where):
    before = (Person.objects.count(), PersonEmail.objects.count(), PersonPhone.objects.count(), ConfigChange.objects.count())
    response = rep_client.post(reverse("pipeline:person_create"), person_data(**bad))
    assert response.status_code == 400
    body = text(response)
    assert message in body
    # next to its field (the row's input carries the error's id)
    assert f'id="id_{where}"' in body and body.index(message) > body.index(f'id="id_{where}"')
    assert 'value="mara@lind.example"' in body  # what was typed stays
    after = (Person.objects.count(), PersonEmail.objects.count(), PersonPhone.objects.count(), ConfigChange.objects.count())
    assert after == before


def test_add_another_row_comes_back_with_one_more_empty_row_and_saves_nothing(rep_client):
    response = rep_client.post(reverse("pipeline:person_create"), {**person_data(name=""), "more": "emails"})
    assert response.status_code == 200 and not Person.objects.exists()
    body = text(response)
    assert 'name="emails-2-address"' in body and 'name="emails-TOTAL_FORMS" value="3"' in body
    assert "Name the person." not in body  # nothing was checked yet
    assert 'value="mara@lind.example"' in body


def test_editing_a_person_replaces_their_addresses_and_records_what_changed(rep_client, rep, jonas):
    url = reverse("pipeline:person_edit", args=[jonas.pk])
    form = rep_client.get(url)
    body = text(form)
    assert 'value="jonas.berg@acme.example"' in body and 'name="emails-2-address"' in body  # two rows and one empty
    data = person_data(name="Jonas Berg", job_title="Managing director", owner=rep.pk, language="de", consent="granted",
                       consent_source="Trade fair", consent_at="2025-04-02")
    data.update({"emails-0-address": "", "emails-1-address": "jonas@mail.example", "phones-0-number": "0171 2345678",
                 "phones-0-kind": "mobile"})
    response = rep_client.post(url, data)
    assert response.status_code == 302
    jonas.refresh_from_db()
    assert jonas.job_title == "Managing director" and jonas.email == "jonas@mail.example"
    assert [e.address for e in jonas.emails.all()] == ["jonas@mail.example"]
    assert timezone.localdate(jonas.consent_at) == date(2025, 4, 2)  # unchanged date: not rewritten
    change = ConfigChange.objects.filter(object_id=str(jonas.pk), action="update").latest("pk")
    assert "job_title" in change.changes and "emails" in change.changes and "consent_at" not in change.changes


@time_machine.travel(datetime(2026, 5, 4, 9, 0, tzinfo=timezone.get_current_timezone()), tick=False)
def test_a_changed_consent_without_a_date_is_dated_today(rep_client, rep, acme):
    person = person_create(actor=rep, name="Ola Nord", organization=acme, owner=rep)
    data = person_data(name="Ola Nord", consent="refused", consent_source="Phone call", owner=rep.pk)
    assert rep_client.post(reverse("pipeline:person_edit", args=[person.pk]), data).status_code == 302
    person.refresh_from_db()
    assert person.consent == "refused" and timezone.localdate(person.consent_at) == date(2026, 5, 4)


# --- The people list and the person lookup ----------------------------------------------------------------


def test_the_people_list_searches_by_name_email_and_phone_and_filters_by_organisation(rep_client, rep, outsider, jonas, acme):
    other = OrganizationFactory(name="Birke Software AG", owner=rep, contact_name="Lena Birke", contact_email="lena@birke.example",
                                contact_phone="0221 555 77")
    person_create(actor=outsider, name="Hidden Person", owner=outsider, organization=OrganizationFactory(owner=outsider))
    url = reverse("pipeline:person_list")
    names = lambda **q: [p.name for p in rep_client.get(url, q).context["page"]]
    assert names() == ["Jonas Berg", "Lena Birke", "Petra Huber"]
    assert names(q="jonas@mail") == ["Jonas Berg"]  # his second address
    assert names(q="0221/55577") == ["Lena Birke"] and names(q="+49 171 2345678") == []
    assert names(q="0171 2345678") == ["Jonas Berg"]
    assert names(organization=f"{other.name} (#{other.pk})") == ["Lena Birke"]
    assert names(organization=str(acme.pk)) == ["Jonas Berg", "Petra Huber"]
    unknown = rep_client.get(url, {"organization": "No Such Company", "q": "lena"})
    assert [p.name for p in unknown.context["page"]] == ["Lena Birke"]
    assert "There is no company “No Such Company” that you can choose" in text(unknown)
    assert "Hidden Person" not in text(rep_client.get(url))
    partial = text(rep_client.get(url, {"q": "lena"}, **HTMX))
    assert "<html" not in partial and "Lena Birke" in partial


def test_the_people_list_is_paginated_and_runs_as_many_queries_for_a_fuller_page(rep_client, rep, acme):
    _people(acme, rep, 3)
    url = reverse("pipeline:person_list")
    queries_for(rep_client, url)
    few = queries_for(rep_client, url)
    _people(OrganizationFactory(owner=rep), rep, 60)
    assert queries_for(rep_client, url) == few
    page = rep_client.get(url)
    assert page.context["page"].paginator.num_pages == 2 and len(page.context["page"]) == 50
    assert 'href="?page=2"' in text(page)
    assert len(rep_client.get(url, {"page": 2}).context["page"]) == 65 - 50


def test_the_person_lookup_suggests_only_people_one_sees(rep_client, rep, outsider, jonas):
    person_create(actor=outsider, name="Jonas Hidden", owner=outsider, organization=OrganizationFactory(owner=outsider))
    body = text(rep_client.get(reverse("pipeline:person_lookup"), {"q": "jonas"}))
    assert f"Jonas Berg · Acme Maschinenbau GmbH (#{jonas.pk})" in body and "Hidden" not in body
    assert text(rep_client.get(reverse("pipeline:person_lookup"), {"q": ""})).strip() == ""
