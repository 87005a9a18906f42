"""The deal page's contacts: who is on the deal in which role; adding (someone at the organisation,
someone typed, a new person), changing a role and removing, with and without htmx; who may; and
the entry rules that need a contact."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ConfigChange
from pipeline.models import ContactRole, DealContact, Person, Transition
from pipeline.people import deal_contact_add, person_create
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

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
def deal(rep, stages):
    organization = OrganizationFactory(name="Nordlicht Energie AG", owner=rep, contact_name="Petra Huber",
                                       contact_email="petra@nordlicht.example")
    return DealFactory(owner=rep, organization=organization, stage=stages["Meeting & demo"], title="Smart meter rollout")


@pytest.fixture
def colleague(rep, deal):
    """Someone else at the deal's organisation, not on the deal yet."""
    return person_create(actor=rep, name="Tim Sommer", organization=deal.organization, owner=rep, job_title="CTO",
                         emails=["tim@nordlicht.example"], phones=["+49 40 555 12"])


def add_url(deal):
    return reverse("pipeline:deal_contact_add", args=[deal.pk])


def role_url(deal, person):
    return reverse("pipeline:deal_contact_role", args=[deal.pk, person.pk])


def remove_url(deal, person):
    return reverse("pipeline:deal_contact_remove", args=[deal.pk, person.pk])


def add_data(**values) -> dict:
    data = {"person": "", "other": "", "new_name": "", "new_email": "", "new_phone": "", "role": ""}
    data.update(values)
    return {f"contact-{name}": value for name, value in data.items()}


def test_the_deal_page_lists_its_contacts_with_their_roles_and_offers_the_organisations_people(rep_client, rep, deal, colleague, roles):
    petra = deal.organization.main_contact
    deal_contact_add(deal=deal, person=petra, role=roles["Decision maker"], actor=rep)
    response = rep_client.get(deal.get_absolute_url())
    body = text(response)
    panel = body[body.index('id="contacts"'):]
    assert "Petra Huber" in panel and "Main contact" in panel and "petra@nordlicht.example" in panel
    assert f'<option value="{roles["Decision maker"].pk}" selected>Decision maker</option>' in panel
    assert [p.name for p in response.context["contact_form"].fields["person"].queryset] == ["Tim Sommer"]
    assert "Tim Sommer · CTO" in panel


def test_add_someone_at_the_organisation_in_a_role_without_javascript(rep_client, rep, deal, colleague, roles):
    response = rep_client.post(add_url(deal), add_data(person=colleague.pk, role=roles["Champion"].pk))
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url() + "#contacts"
    contact = DealContact.objects.get(deal=deal)
    assert (contact.person, contact.role) == (colleague, roles["Champion"])
    assert ConfigChange.objects.filter(object_id=str(deal.pk), changes__has_key=f"contact {colleague.pk} Tim Sommer").exists()
    page = text(rep_client.get(deal.get_absolute_url()))
    assert "Tim Sommer is on the deal as Champion." in page


def test_add_someone_else_by_typing_their_name(rep_client, rep, deal):
    elsewhere = person_create(actor=rep, name="Alex Quell", organization=OrganizationFactory(owner=rep, name="Beratung Quell"), owner=rep)
    response = rep_client.post(add_url(deal), add_data(other=f"Alex Quell · Beratung Quell (#{elsewhere.pk})"), **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith("<section") and "<html" not in body
    assert "Alex Quell" in body and 'hx-swap-oob="beforeend:#sf-toasts"' in body and "Alex Quell is on the deal." in body
    assert DealContact.objects.get(deal=deal).person == elsewhere
    # A plain name works when only one visible person has it.
    bea = person_create(actor=rep, name="Bea Unique", owner=rep)
    assert rep_client.post(add_url(deal), add_data(other="bea unique")).status_code == 302
    assert deal.contacts.filter(person=bea).exists()


def test_add_a_new_person_at_the_deals_organisation(rep_client, rep, deal, roles):
    response = rep_client.post(add_url(deal), add_data(new_name="Nina Brandt", new_email="Nina.Brandt@nordlicht.example",
                                                       new_phone="040 555 99", role=roles["User"].pk))
    assert response.status_code == 302
    nina = Person.objects.get(name="Nina Brandt")
    assert nina.organization == deal.organization and nina.owner == deal.owner
    assert (nina.email, nina.phone) == ("nina.brandt@nordlicht.example", "040 555 99")
    assert DealContact.objects.get(deal=deal, person=nina).role == roles["User"]


@pytest.mark.parametrize("data, message", [
    (add_data(), "Choose a person, type someone&#x27;s name, or name a new person."),
    (add_data(new_name="Nina Brandt", other="Petra Huber"), "Choose one person: from the list, typed, or new."),
    (add_data(new_email="nina@nordlicht.example"), "Name the new person."),
    (add_data(new_name="Nina Brandt", new_email="nina(at)nordlicht"), "“nina(at)nordlicht” is not an e-mail address."),
    (add_data(other="Nobody Known"), "There is nobody called “Nobody Known” whom you can choose"),
    (add_data(new_name="Nina Brandt", role="999999"), "Select a valid choice."),
])
def test_bad_input_says_why_and_writes_nothing(rep_client, deal, data, message):
    people, audit = Person.objects.count(), ConfigChange.objects.count()
    response = rep_client.post(add_url(deal), data)
    assert response.status_code == 400 and message in text(response)
    assert "<html" in text(response)  # without JavaScript: the deal page again, the form open with the reason
    assert (Person.objects.count(), DealContact.objects.count(), ConfigChange.objects.count()) == (people, 0, audit)
    partial = rep_client.post(add_url(deal), data, **HTMX)
    assert partial.status_code == 400 and partial["X-Stageflow-Refusal"] == "1" and message in text(partial)
    assert "<html" not in text(partial) and "<details class=\"sf-add\" open>" in text(partial)


def test_an_inactive_role_is_refused_with_the_services_message(rep_client, rep, deal, colleague, roles):
    deal_contact_add(deal=deal, person=colleague, role=None, actor=rep)
    blocker = roles["Blocker"]
    ContactRole.objects.filter(pk=blocker.pk).update(is_active=False)
    response = rep_client.post(role_url(deal, colleague), {"role": blocker.pk}, **HTMX)
    assert response.status_code == 400 and "Choose one of the listed roles." in text(response)
    assert DealContact.objects.get(deal=deal, person=colleague).role is None


def test_change_a_role_and_remove_someone(rep_client, rep, deal, colleague, roles):
    deal_contact_add(deal=deal, person=colleague, role=roles["Influencer"], actor=rep)
    response = rep_client.post(role_url(deal, colleague), {"role": roles["Decision maker"].pk}, **HTMX)
    assert response.status_code == 200 and "Tim Sommer is Decision maker on the deal now." in text(response)
    assert DealContact.objects.get(deal=deal).role == roles["Decision maker"]
    assert rep_client.post(role_url(deal, colleague), {"role": ""}).status_code == 302
    assert DealContact.objects.get(deal=deal).role is None
    response = rep_client.post(remove_url(deal, colleague), **HTMX)
    assert response.status_code == 200 and "Tim Sommer is no longer on the deal." in text(response)
    assert not DealContact.objects.exists() and Person.objects.filter(pk=colleague.pk).exists()
    # Someone not on the deal (any more) cannot lose a role they do not have.
    assert rep_client.post(remove_url(deal, colleague)).status_code == 404
    assert rep_client.post(role_url(deal, colleague), {"role": ""}).status_code == 404


def test_who_may_change_the_contacts(client, rep, teammate, outsider, manager, deal, colleague, roles):
    deal_contact_add(deal=deal, person=colleague, role=roles["User"], actor=rep)
    for user, status in ((teammate, 403), (outsider, 404)):
        client.force_login(user)
        assert client.post(add_url(deal), add_data(new_name="Intruder")).status_code == status
        assert client.post(role_url(deal, colleague), {"role": roles["Blocker"].pk}).status_code == status
        assert client.post(remove_url(deal, colleague)).status_code == status
        # With htmx: only a toast says why; the panel stays as it is.
        refused = client.post(remove_url(deal, colleague), **HTMX)
        assert refused.status_code == status and refused["HX-Reswap"] == "none" and "sf-toasts" in text(refused)
    assert DealContact.objects.get(deal=deal).role == roles["User"] and not Person.objects.filter(name="Intruder").exists()
    client.force_login(teammate)
    page = text(client.get(deal.get_absolute_url()))
    assert "Tim Sommer" in page and remove_url(deal, colleague) not in page and add_url(deal) not in page
    client.force_login(manager)
    assert client.post(remove_url(deal, colleague)).status_code == 302


def test_a_person_one_cannot_see_cannot_be_put_on_a_deal(rep_client, outsider, deal):
    hidden = person_create(actor=outsider, name="South Contact", owner=outsider, organization=OrganizationFactory(owner=outsider))
    response = rep_client.post(add_url(deal), add_data(other=f"South Contact (#{hidden.pk})"))
    assert response.status_code == 400 and not DealContact.objects.exists()
    response = rep_client.post(add_url(deal), add_data(person=hidden.pk))
    assert response.status_code == 400 and not DealContact.objects.exists()


def test_the_deal_page_runs_as_many_queries_with_more_contacts(rep_client, rep, deal, roles):
    def add(n):
        for i in range(n):
            person = person_create(actor=rep, name=f"Contact {i}", organization=deal.organization, owner=rep)
            deal_contact_add(deal=deal, person=person, role=list(roles.values())[i % 6], actor=rep)

    add(1)
    url = deal.get_absolute_url()
    rep_client.get(url)
    with CaptureQueriesContext(connection) as few:
        rep_client.get(url)
    add(6)
    person_create(actor=rep, name="Not on it", organization=deal.organization, owner=rep)
    with CaptureQueriesContext(connection) as more:
        assert rep_client.get(url).status_code == 200
    assert len(more) == len(few)


def test_an_entry_rule_that_needs_a_decision_maker_is_met_by_adding_one(rep_client, rep, deal, colleague, stages, roles):
    Transition.objects.filter(to_stage=stages["Offer"]).update(requires_role=roles["Decision maker"])
    move = reverse("pipeline:deal_move", args=[deal.pk])
    response = rep_client.post(move, {"stage": stages["Offer"].pk, "version": deal.version, "next": deal.get_absolute_url()})
    assert response.status_code == 400 and "a contact who is Decision maker" in text(response)
    rep_client.post(add_url(deal), add_data(person=colleague.pk, role=roles["Decision maker"].pk))
    response = rep_client.post(move, {"stage": stages["Offer"].pk, "version": deal.version, "next": deal.get_absolute_url()})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage == stages["Offer"]
