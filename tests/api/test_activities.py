"""Activities and notes: read as activities.selectors allow, written through activities.services
on a deal, organisation or person the caller may change."""
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from activities import services
from activities.models import Activity, Note
from pipeline.models import Person
from pipeline.people import person_create
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

DUE = "2031-05-04T09:30:00+02:00"


def soon(hours=2):
    return timezone.now() + timedelta(hours=hours)


@pytest.fixture
def own_person(rep):
    return person_create(actor=rep, name="Ann", owner=rep, organization=OrganizationFactory(owner=rep))


@pytest.fixture
def subjects(own_deal, own_person):
    return {"deal": own_deal, "organization": own_deal.organization, "person": own_person}


# caller → (status for reads, status for changes) of what is on the rep's own deal, organisation and person
MATRIX = [
    ("rep", 200, 200),
    ("teammate", 200, 403),
    ("other_rep", 404, 404),
    ("manager", 200, 200),
    ("other_manager", 404, 404),
    ("admin_user", 200, 200),
]


@pytest.mark.parametrize("subject", ["deal", "organization", "person"])
@pytest.mark.parametrize("who, read, change", MATRIX)
def test_activities_follow_their_subjects_rights(who, read, change, subject, request, rep, subjects):
    activity = services.activity_create(actor=rep, kind="call", title="Call", due_at=soon(), **{subject: subjects[subject]})
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/activities/{activity.pk}/").status_code == read
    listed = [a["id"] for a in client.get("/api/v1/activities/").json()["results"]]
    assert (activity.pk in listed) == (read == 200)
    response = client.patch(f"/api/v1/activities/{activity.pk}/", {"title": "Changed"}, format="json")
    assert response.status_code == change, response.content
    response = client.post("/api/v1/activities/", {"title": "New", "due_at": DUE, subject: subjects[subject].pk}, format="json")
    # Planning one on a subject the caller may not see is a field error ("does not exist"); only seeing it, 403.
    assert response.status_code == {200: 201, 403: 403, 404: 400}[change], response.content
    assert Activity.objects.filter(title="New").exists() == (change == 200)


@pytest.mark.parametrize("subject", ["deal", "organization", "person"])
@pytest.mark.parametrize("who, read, change", MATRIX)
def test_notes_follow_their_subjects_rights(who, read, change, subject, request, rep, subjects):
    note = services.note_create(actor=rep, body="Budget approved", **{subject: subjects[subject]})
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"/api/v1/notes/{note.pk}/").status_code == read
    listed = [n["id"] for n in client.get("/api/v1/notes/").json()["results"]]
    assert (note.pk in listed) == (read == 200)
    response = client.post("/api/v1/notes/", {"body": "New", subject: subjects[subject].pk}, format="json")
    assert response.status_code == {200: 201, 403: 403, 404: 400}[change], response.content
    assert Note.objects.filter(body="New").exists() == (change == 200)


def test_anonymous_callers_are_401(rep, own_deal):
    for url in ("/api/v1/activities/", "/api/v1/notes/"):
        assert APIClient().get(url).status_code == 401
        assert APIClient().post(url, {}, format="json").status_code == 401


def test_plan_an_activity_for_a_teammate_as_a_manager(manager, teammate, rep, own_deal):
    response = client_for(manager).post("/api/v1/activities/", {
        "kind": "meeting", "title": " Demo ", "due_at": DUE, "note": "Bring the deck", "deal": own_deal.pk,
        "owner": teammate.pk,
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["title"], body["owner"], body["owner_name"], body["deal"], body["done"]) == (
        "meeting", "Demo", teammate.pk, str(teammate), own_deal.pk, False)
    activity = Activity.objects.get(pk=body["id"])
    assert activity.created_by == manager and activity.due_at == datetime.fromisoformat(DUE)
    response = client_for(rep).post("/api/v1/activities/", {"title": "X", "due_at": DUE, "deal": own_deal.pk,
                                                            "owner": teammate.pk}, format="json")
    assert response.status_code == 400 and "owner" in response.json()  # reps plan only their own


@pytest.mark.parametrize(
    "body, field",
    [
        ({"due_at": DUE, "deal": "{deal}"}, "title"),
        ({"title": "  ", "due_at": DUE, "deal": "{deal}"}, "title"),
        ({"title": "Call", "deal": "{deal}"}, "due_at"),
        ({"title": "Call", "due_at": "next tuesday", "deal": "{deal}"}, "due_at"),
        ({"title": "Call", "due_at": DUE, "deal": "{deal}", "kind": "fax"}, "kind"),
        ({"title": "Call", "due_at": DUE, "deal": 999999}, "deal"),
        ({"title": "Call", "due_at": DUE, "person": "x"}, "person"),
        ({"title": "Call", "due_at": DUE, "deal": "{deal}", "done": True}, "done"),  # a new activity is open
        ({"title": "Call", "due_at": DUE, "deal": "{deal}", "note": "n" * 2001}, "note"),
    ],
)
def test_bad_activities_are_field_errors(rep, own_deal, body, field):
    body = {k: own_deal.pk if v == "{deal}" else v for k, v in body.items()}
    response = client_for(rep).post("/api/v1/activities/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Activity.objects.exists()


@pytest.mark.parametrize("subjects", [(), ("deal", "person"), ("organization", "person")])
def test_an_activity_or_note_names_one_subject(rep, subjects, own_deal, own_person):
    given = {"deal": own_deal.pk, "organization": own_deal.organization_id, "person": own_person.pk}
    client = client_for(rep)
    response = client.post("/api/v1/activities/", {"title": "Call", "due_at": DUE, **{k: given[k] for k in subjects}},
                           format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_target"
    response = client.post("/api/v1/notes/", {"body": "Hello", **{k: given[k] for k in subjects}}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_target"
    assert not Activity.objects.exists() and not Note.objects.exists()


def test_nothing_is_added_to_an_erased_person(admin_user, own_person):
    Person.objects.filter(pk=own_person.pk).update(erased_at=timezone.now())
    response = client_for(admin_user).post("/api/v1/notes/", {"body": "Hello", "person": own_person.pk}, format="json")
    assert response.status_code == 403  # nobody changes an erased person (pipeline.selectors.can_change_person)


def test_an_activity_is_changed_marked_done_and_opened_again(rep, manager, own_deal):
    activity = services.activity_create(actor=rep, deal=own_deal, kind="call", title="Call", due_at=soon())
    client = client_for(manager)
    url = f"/api/v1/activities/{activity.pk}/"
    response = client.patch(url, {"title": "Call the CFO", "kind": "meeting", "done": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["title"], body["kind"], body["done"], body["done_by"]) == ("Call the CFO", "meeting", True, manager.pk)
    assert client.patch(url, {"done": False}, format="json").json()["done_at"] is None
    # The owner may stay a manager's own choice, or move to someone they may assign.
    assert client.patch(url, {"owner": rep.pk, "note": ""}, format="json").status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [({"title": ""}, "title"), ({"due_at": None}, "due_at"), ({"done": "perhaps"}, "done"), ({"deal": 1}, "deal"),
     ({"owner": 999999}, "owner"), ({"created_by": 1}, "created_by")],
)
def test_bad_activity_changes_are_field_errors(rep, own_deal, body, field):
    activity = services.activity_create(actor=rep, deal=own_deal, kind="call", title="Call", due_at=soon())
    response = client_for(rep).patch(f"/api/v1/activities/{activity.pk}/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    activity.refresh_from_db()
    assert activity.title == "Call"


def test_a_failed_change_keeps_the_done_mark_too(rep, own_deal, monkeypatch):
    activity = services.activity_create(actor=rep, deal=own_deal, kind="call", title="Call", due_at=soon())

    def refuse(**kwargs):
        raise services.ActivityError("No.", code="refused")

    monkeypatch.setattr(services, "activity_complete", refuse)
    response = client_for(rep).patch(f"/api/v1/activities/{activity.pk}/", {"title": "Changed", "done": True}, format="json")
    assert response.status_code == 400
    activity.refresh_from_db()
    assert activity.title == "Call" and activity.done_at is None


def test_the_activity_owner_may_change_it_without_the_right_to_change_the_deal(rep, teammate, own_deal):
    activity = services.activity_create(actor=rep, deal=own_deal, kind="call", title="Call", due_at=soon(), owner=teammate)
    response = client_for(teammate).patch(f"/api/v1/activities/{activity.pk}/", {"done": True}, format="json")
    assert response.status_code == 200 and response.json()["done"] is True


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"done": "false"}, ["Soon", "On Ann", "Later"]),
        ({"done": "true"}, ["Done"]),
        ({"kind": "email"}, ["Later"]),
        ({"person": "{person}"}, ["On Ann"]),
        ({"deal": "{deal}", "done": "false"}, ["Soon", "Later"]),
        ({"due_after": "2031-01-01T00:00:00Z"}, ["Later"]),
        ({"due_before": "2031-01-01T00:00:00Z", "done": "false"}, ["Soon", "On Ann"]),
        ({"owner": "{teammate}"}, ["On Ann"]),
    ],
)
@time_machine.travel(datetime(2030, 3, 1, 10, 0, tzinfo=dt_timezone.utc), tick=False)
def test_activity_filters(rep, teammate, manager, own_deal, own_person, query, expected):
    services.activity_create(actor=rep, deal=own_deal, kind="call", title="Soon", due_at=soon(1))
    services.activity_create(actor=rep, deal=own_deal, kind="email", title="Later",
                             due_at=datetime(2031, 6, 1, tzinfo=dt_timezone.utc))
    services.activity_create(actor=rep, person=own_person, kind="task", title="On Ann", due_at=soon(3), owner=teammate)
    done = services.activity_create(actor=rep, deal=own_deal, kind="call", title="Done", due_at=soon(-5))
    services.activity_complete(activity=done, actor=rep)
    values = {"{person}": own_person.pk, "{deal}": own_deal.pk, "{teammate}": teammate.pk}
    query = {k: values.get(v, v) for k, v in query.items()}
    body = client_for(manager).get("/api/v1/activities/", query).json()
    assert [a["title"] for a in body["results"]] == expected


@pytest.mark.parametrize(
    "url, query",
    [(url, query) for url in ("/api/v1/activities/", "/api/v1/notes/") for query in ({"deal": "x"}, {"person": "-1"})]
    + [("/api/v1/activities/", query) for query in ({"owner": "1.5"}, {"done": "maybe"}, {"due_after": "soon"})]
    + [("/api/v1/notes/", query) for query in ({"author": "x"}, {"created_after": "soon"})],
)
def test_bad_filters_are_400(rep, url, query):
    response = client_for(rep).get(url, query)
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_notes_are_newest_first_and_filtered(rep, teammate, own_deal, own_person):
    services.note_create(actor=rep, deal=own_deal, body="First")
    services.note_create(actor=rep, person=own_person, body="On Ann")
    services.note_create(actor=rep, deal=own_deal, body="Second")
    client = client_for(rep)
    assert [n["body"] for n in client.get("/api/v1/notes/").json()["results"]] == ["Second", "On Ann", "First"]
    assert [n["body"] for n in client.get("/api/v1/notes/", {"person": own_person.pk}).json()["results"]] == ["On Ann"]
    assert client.get("/api/v1/notes/", {"author": teammate.pk}).json()["count"] == 0


def test_a_note_is_kept_as_typed(rep, own_person):
    body = "**Budget**: <script>alert(1)</script>\n- item"
    response = client_for(rep).post("/api/v1/notes/", {"body": body, "person": own_person.pk}, format="json")
    assert response.status_code == 201
    assert (response.json()["body"], response.json()["author"], response.json()["author_name"]) == (body, rep.pk, str(rep))


@pytest.mark.parametrize("body, field", [({"body": ""}, "body"), ({"body": "x" * 20_001}, "body"),
                                         ({"body": "x", "deal": 999999}, "deal"), ({"body": "x", "title": "y"}, "title")])
def test_bad_notes_are_field_errors(rep, own_deal, body, field):
    body = {"deal": own_deal.pk, **body}
    response = client_for(rep).post("/api/v1/notes/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content


def test_notes_are_never_changed_or_deleted(rep, own_deal):
    note = services.note_create(actor=rep, deal=own_deal, body="Kept")
    client = client_for(rep)
    assert client.patch(f"/api/v1/notes/{note.pk}/", {"body": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/notes/{note.pk}/").status_code == 405
    assert client.delete(f"/api/v1/activities/{note.pk}/").status_code == 405


def test_on_a_shared_organisation_each_team_reads_what_its_own_people_wrote(rep, other_rep, stages):
    shared = OrganizationFactory(owner=None)
    DealFactory(owner=rep, organization=shared, stage=stages["Prospecting"])
    DealFactory(owner=other_rep, organization=shared, stage=stages["Prospecting"])
    services.note_create(actor=rep, organization=shared, body="North's")
    services.note_create(actor=other_rep, organization=shared, body="South's")
    bodies = [n["body"] for n in client_for(rep).get("/api/v1/notes/", {"organization": shared.pk}).json()["results"]]
    assert bodies == ["North's"]


@pytest.mark.parametrize("url", ["/api/v1/activities/", "/api/v1/notes/"])
def test_lists_run_a_fixed_number_of_queries(url, rep, manager, own_deal, own_person, django_assert_max_num_queries):
    for n in range(10):
        services.activity_create(actor=rep, deal=own_deal, kind="call", title=f"D{n}", due_at=soon(n))
        services.activity_create(actor=rep, person=own_person, kind="call", title=f"P{n}", due_at=soon(n))
        services.note_create(actor=rep, deal=own_deal, body=f"D{n}")
        services.note_create(actor=rep, organization=own_deal.organization, body=f"O{n}")
    for client in (client_for(rep), client_for(manager), token_client(rep)[0]):
        client.get(url)
        with django_assert_max_num_queries(5):  # session or token, count, page (with owners or authors)
            response = client.get(url, {"page_size": 50})
        assert response.json()["count"] == 20


@pytest.mark.parametrize("url, name", [("/api/v1/activities/", "due_after"), ("/api/v1/notes/", "created_after")])
def test_times_with_any_offset_are_compared_in_utc(rep, own_deal, url, name):
    """+21:57 is valid ISO 8601 but out of PostgreSQL's range for an offset: compared in UTC, it is fine."""
    services.activity_create(actor=rep, deal=own_deal, kind="call", title="Call", due_at=soon(24 * 365 * 20))
    services.note_create(actor=rep, deal=own_deal, body="Hello")
    client = client_for(rep)
    assert client.get(url, {name: "0228-12-22T02:55:55+21:57"}).json()["count"] == 1
    assert client.get(url, {name: "9999-12-31T23:00:00-10:00"}).status_code == 400  # past the calendar in UTC
