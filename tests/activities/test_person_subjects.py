"""Activities and notes on a person: planned and written through activities.services, visible with
the person (and, as on an organisation, only what people whose deals one sees wrote)."""
import pytest
from django.utils import timezone

from activities import selectors, services
from activities.services import ActivityError
from pipeline.models import Person
from pipeline.people import person_create
from tests.activities.conftest import in_hours
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(rep):
    return person_create(actor=rep, name="Ann", owner=rep, organization=OrganizationFactory(owner=rep))


def test_an_activity_and_a_note_on_a_person(rep, person):
    activity = services.activity_create(actor=rep, person=person, kind="call", title="Call Ann", due_at=in_hours(2))
    note = services.note_create(actor=rep, person=person, body="Prefers mornings.")
    assert (activity.person, activity.deal, activity.organization) == (person, None, None)
    assert (note.person, note.deal, note.organization) == (person, None, None)


@pytest.mark.parametrize("subjects", [(), ("deal", "person"), ("organization", "person")])
def test_an_activity_or_note_has_exactly_one_subject(rep, deal, person, subjects):
    given = {"deal": deal, "organization": deal.organization, "person": person}
    kwargs = {name: given[name] for name in subjects}
    with pytest.raises(ActivityError) as refused:
        services.activity_create(actor=rep, kind="call", title="Call", due_at=in_hours(1), **kwargs)
    assert refused.value.code == "invalid_target"
    with pytest.raises(ActivityError) as refused:
        services.note_create(actor=rep, body="Hello", **kwargs)
    assert refused.value.code == "invalid_target"


def test_nothing_is_added_to_an_erased_person(rep, person):
    Person.objects.filter(pk=person.pk).update(erased_at=timezone.now())
    person.refresh_from_db()
    with pytest.raises(ActivityError) as refused:
        services.note_create(actor=rep, person=person, body="Hello")
    assert refused.value.code == "erased"
    with pytest.raises(ActivityError):
        services.activity_create(actor=rep, person=person, kind="call", title="Call", due_at=in_hours(1))


def test_what_is_on_a_person_is_visible_with_the_person_and_its_author(rep, teammate, outsider, manager, person):
    mine = services.note_create(actor=rep, person=person, body="Rita's note")
    call = services.activity_create(actor=rep, person=person, kind="call", title="Call", due_at=in_hours(1))
    for user, sees in ((rep, True), (teammate, True), (manager, True), (outsider, False)):
        assert selectors.visible_notes(user).filter(pk=mine.pk).exists() == sees, user
        assert selectors.visible_activities(user).filter(pk=call.pk).exists() == sees, user
    # An unowned person at no organisation is everyone's; what an outsider wrote there stays theirs.
    pool = person_create(actor=None, name="Pat")
    theirs = services.note_create(actor=outsider, person=pool, body="Olga's note")
    assert selectors.visible_notes(outsider).filter(pk=theirs.pk).exists()
    assert not selectors.visible_notes(rep).filter(pk=theirs.pk).exists()


def test_who_may_change_an_activity_on_a_person(rep, teammate, manager, person):
    call = services.activity_create(actor=rep, person=person, kind="call", title="Call", due_at=in_hours(1))
    assert selectors.can_change_activity(rep, call) and selectors.can_change_activity(manager, call)
    assert not selectors.can_change_activity(teammate, call)
