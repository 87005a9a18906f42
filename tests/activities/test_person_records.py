"""Activities and notes about a person (not a deal, not an organisation): the services, who sees
them, and the person page's panel and timeline."""
import pytest
from django.urls import reverse

from activities import services
from activities.models import Activity, Note
from activities.selectors import visible_activities, visible_notes
from activities.services import ActivityError
from pipeline.models import Person
from pipeline.people import person_create
from tests.activities.conftest import in_hours
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def organization(rep):
    return OrganizationFactory(owner=rep, name="Hafen Logistik GmbH", contact_name="")


@pytest.fixture
def person(rep, organization):
    return person_create(actor=rep, name="Jana Wolff", organization=organization, owner=rep, emails=["jana@hafen.example"])


def test_an_activity_or_a_note_is_about_exactly_one_deal_organisation_or_person(rep, person, organization):
    with pytest.raises(ActivityError, match="belongs to a deal, an organisation or a person"):
        services.activity_create(actor=rep, kind="call", title="Call", due_at=in_hours(1))
    with pytest.raises(ActivityError, match="belongs to a deal, an organisation or a person"):
        services.note_create(actor=rep, body="Two subjects", person=person, organization=organization)
    activity = services.activity_create(actor=rep, kind="call", title="Call Jana", due_at=in_hours(1), person=person)
    note = services.note_create(actor=rep, body="Prefers e-mail", person=person)
    assert (activity.person, activity.organization, activity.deal) == (person, None, None)
    assert (note.person, note.organization, note.deal) == (person, None, None)


def test_nothing_more_is_recorded_about_an_erased_person(rep, person):
    Person.objects.filter(pk=person.pk).update(erased_at=in_hours(-1))
    person.refresh_from_db()
    with pytest.raises(ActivityError, match="erased"):
        services.note_create(actor=rep, body="Still calling", person=person)
    with pytest.raises(ActivityError, match="erased"):
        services.activity_create(actor=rep, kind="call", title="Call", due_at=in_hours(1), person=person)
    assert not Note.objects.exists() and not Activity.objects.exists()


def test_plan_an_activity_and_write_a_note_on_the_person_page(rep_client, rep, person):
    response = rep_client.post(
        reverse("activities:person_create", args=[person.pk]),
        {"kind": "meeting", "title": "Lunch with Jana", "due_at": "2030-01-02T12:00", "owner": rep.pk},
    )
    assert response.status_code == 302 and response["Location"] == person.get_absolute_url() + "#activities"
    activity = Activity.objects.get()
    assert activity.person == person and activity.organization is None and activity.deal is None
    response = rep_client.post(reverse("activities:person_note_create", args=[person.pk]), {"body": "Likes **short** calls"})
    assert response["Location"] == person.get_absolute_url() + "#timeline"
    page = text(rep_client.get(person.get_absolute_url()))
    assert "Lunch with Jana" in page and "<strong>short</strong>" in page
    assert "Nothing planned with this person." not in page
    # My activities names the person the activity is about.
    mine = text(rep_client.get(reverse("activities:mine")))
    assert "Lunch with Jana" in mine and f'href="{person.get_absolute_url()}"' in mine
    # Done, it moves to the person's timeline; the edit page links back to the person.
    rep_client.post(reverse("activities:done", args=[activity.pk]))
    edit = text(rep_client.get(reverse("activities:edit", args=[activity.pk])))
    assert f'href="{person.get_absolute_url()}"' in edit
    timeline = rep_client.get(person.get_absolute_url()).context["timeline"]
    assert {"activity", "note"} <= {e.kind for e in timeline.entries}


def test_a_bad_activity_on_a_person_says_why_and_writes_nothing(rep_client, person):
    response = rep_client.post(reverse("activities:person_create", args=[person.pk]), {"kind": "call", "title": "", "due_at": ""}, follow=True)
    assert "Say what is planned." in text(response) and not Activity.objects.exists()
    response = rep_client.post(reverse("activities:person_note_create", args=[person.pk]), {"body": "  "}, follow=True)
    assert "The note is empty." in text(response) and not Note.objects.exists()


def test_who_may_plan_and_write_about_a_person(client, rep, teammate, outsider, person, stages):
    # The teammate sees Jana (her organisation has a deal of the team they see) but may not change her.
    DealFactory(owner=rep, organization=person.organization, stage=stages["Prospecting"])
    data = {"kind": "call", "title": "x", "due_at": "2030-01-02T09:00"}
    for user, status in ((teammate, 403), (outsider, 404)):
        client.force_login(user)
        assert client.post(reverse("activities:person_create", args=[person.pk]), data).status_code == status
        assert client.post(reverse("activities:person_note_create", args=[person.pk]), {"body": "x"}).status_code == status
    assert not Activity.objects.exists() and not Note.objects.exists()


def test_notes_about_a_person_are_seen_by_those_who_see_the_person_and_its_authors_deals(rep, teammate, outsider, manager):
    pool = person_create(actor=outsider, name="Free agent")  # no owner, no organisation: everyone sees them
    north = services.note_create(actor=rep, body="North's view", person=pool)
    south = services.note_create(actor=outsider, body="South's view", person=pool)
    imported = Note.objects.create(person=pool, author=None, body="Imported")
    assert set(visible_notes(teammate).filter(person=pool)) == {north, imported}
    assert set(visible_notes(manager).filter(person=pool)) == {north, imported}
    assert set(visible_notes(outsider).filter(person=pool)) == {south, imported}
    hidden = person_create(actor=outsider, name="South's contact", owner=outsider)
    services.activity_create(actor=outsider, kind="call", title="South call", due_at=in_hours(1), person=hidden)
    assert not visible_activities(rep).filter(person=hidden).exists()
    assert visible_activities(outsider).filter(person=hidden).count() == 1


def test_the_organisation_timeline_shows_notes_about_its_people_and_deals_and_says_whose(rep_client, rep, person, stages):
    deal = DealFactory(owner=rep, organization=person.organization, stage=stages["Prospecting"], title="Crane rental")
    services.note_create(actor=rep, body="Note on Jana", person=person)
    services.note_create(actor=rep, body="Note on the deal", deal=deal)
    services.note_create(actor=rep, body="Note on the company", organization=person.organization)
    page = text(rep_client.get(person.organization.get_absolute_url()))
    for body in ("Note on Jana", "Note on the deal", "Note on the company"):
        assert body in page
    timeline = page[page.index('id="timeline"'):]
    assert f'<a href="{person.get_absolute_url()}">Jana Wolff</a>' in timeline
    assert f'<a href="{deal.get_absolute_url()}">Crane rental</a>' in timeline
