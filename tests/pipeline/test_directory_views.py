"""The pages of duplicates, merges and data-protection requests (pipeline/views/directory.py)."""
import json

import pytest
from django.urls import reverse

from accounts.models import ConfigChange
from pipeline import merging
from pipeline.models import MergedRecord, Organization, Person
from pipeline.organizations import organization_create
from pipeline.people import person_create
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def manager(rep):
    user = UserFactory(username="max", role="manager", team=rep.team)
    rep.team.manager = user
    rep.team.save()
    return user


def signed_in(client, user):
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


# --- The suggestions --------------------------------------------------------------------------------


def test_the_duplicates_page_lists_suggestions_with_a_merge_link(client, rep):
    kept = organization_create(actor=rep, name="ACME GmbH", owner=rep, website="https://www.acme.de")
    other = organization_create(actor=rep, name="Acme", owner=rep, domains="acme.de")
    response = signed_in(client, rep).get(reverse("pipeline:duplicates"))
    assert response.status_code == 200
    body = text(response)
    assert "same domain: acme.de" in body and "same name: acme" in body
    assert f'{reverse("pipeline:organization_merge", args=[kept.pk])}?other={other.pk}' in body


def test_the_people_tab_lists_people_and_the_page_hides_what_the_user_may_not_see(client, rep):
    olga = UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))
    person_create(actor=olga, name="Hidden Twin", owner=olga, emails=["twin@south.example"])
    person_create(actor=olga, name="Hidden Twin 2", owner=olga, emails=["TWIN@south.example"])
    person_create(actor=rep, name="Anna", owner=rep, emails=["anna@acme.de"])
    person_create(actor=rep, name="Anna S.", owner=rep, emails=["anna@acme.de"])
    body = text(signed_in(client, rep).get(reverse("pipeline:duplicates") + "?kind=person"))
    assert "same e-mail address: anna@acme.de" in body and "Anna S." in body
    assert "Hidden Twin" not in body and "twin@south" not in body


def test_the_duplicates_page_runs_a_fixed_number_of_queries(client, admin, django_assert_max_num_queries):
    signed_in(client, admin)
    for i in range(3):
        organization_create(actor=admin, name=f"Firma {i} GmbH")
        organization_create(actor=admin, name=f"Firma {i}")
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("pipeline:duplicates"))
    for i in range(3, 20):
        organization_create(actor=admin, name=f"Firma {i} GmbH")
        organization_create(actor=admin, name=f"Firma {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(reverse("pipeline:duplicates")).context["suggestions"]) == 20


def test_the_lead_list_links_to_the_duplicates(client, rep):
    assert reverse("pipeline:duplicates") in text(signed_in(client, rep).get(reverse("qualification:lead_list")))


# --- Merging organisations ----------------------------------------------------------------------------


@pytest.fixture
def pair(rep):
    kept = organization_create(actor=rep, name="ACME GmbH", owner=rep)
    other = organization_create(actor=rep, name="Acme", owner=rep, industry="Software")
    DealFactory(owner=rep, organization=other, title="Rollout")
    return kept, other


def test_the_merge_page_offers_the_likely_duplicates_and_a_search(client, rep, pair):
    kept, other = pair
    url = reverse("pipeline:organization_merge", args=[kept.pk])
    body = text(signed_in(client, rep).get(url))
    assert f'href="?other={other.pk}"' in body and "same name: acme" in body
    organization_create(actor=rep, name="Zeta", owner=rep)
    assert "Zeta" in text(client.get(url + "?q=zet"))


def test_the_merge_page_compares_both_and_merges_on_post(client, rep, pair):
    kept, other = pair
    url = reverse("pipeline:organization_merge", args=[kept.pk])
    response = signed_in(client, rep).get(f"{url}?other={other.pk}")
    body = text(response)
    assert "Software" in body and "Keep the other one instead" in body
    assert f'{reverse("pipeline:organization_merge", args=[other.pk])}?other={kept.pk}' in body
    response = client.post(url, {"other": other.pk}, follow=True)
    assert response.redirect_chain[-1][0] == kept.get_absolute_url()
    assert "“Acme” was merged into “ACME GmbH”" in text(response)
    assert not Organization.objects.filter(pk=other.pk).exists() and kept.deals.get().title == "Rollout"


def test_a_merge_of_a_record_the_user_may_not_change_is_refused_with_the_reason(client, rep, pair):
    kept, _other = pair
    teammate_org = organization_create(actor=rep, name="Acme SE", owner=UserFactory(username="tom", role="rep", team=rep.team))
    DealFactory(owner=teammate_org.owner, organization=teammate_org)
    url = reverse("pipeline:organization_merge", args=[kept.pk])
    signed_in(client, rep)
    page = text(client.get(f"{url}?other={teammate_org.pk}"))
    assert "You may merge only organisations you may change, both of them." in page and 'name="other"' not in page
    response = client.post(url, {"other": teammate_org.pk})
    assert response.status_code == 409 and "You may merge only organisations" in text(response)
    assert Organization.objects.filter(pk=teammate_org.pk).exists()


def test_merging_a_hidden_or_missing_record_is_a_404_and_a_post_without_one_a_400(client, rep, pair):
    kept, _other = pair
    olga = UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))
    hidden = organization_create(actor=olga, name="Acme AG", owner=olga)
    DealFactory(owner=olga, organization=hidden)
    url = reverse("pipeline:organization_merge", args=[kept.pk])
    signed_in(client, rep)
    assert client.post(url, {"other": hidden.pk}).status_code == 404
    assert client.get(f"{url}?other=999999").status_code == 404
    response = client.post(url, {})
    assert response.status_code == 400 and "Choose the record to merge into this one." in text(response)


def test_a_merge_with_itself_is_not_offered(client, rep, pair):
    kept, _other = pair
    url = reverse("pipeline:organization_merge", args=[kept.pk])
    page = text(signed_in(client, rep).get(f"{url}?other={kept.pk}"))
    assert "A record cannot be merged with itself." in page and 'name="other"' not in page
    assert client.post(url, {"other": kept.pk}).status_code == 409


def test_the_organisation_page_offers_a_merge_to_those_who_may_change_it(client, rep, pair):
    kept, _other = pair
    link = reverse("pipeline:organization_merge", args=[kept.pk])
    assert link in text(signed_in(client, rep).get(kept.get_absolute_url()))
    assert link not in text(signed_in(client, UserFactory(username="tom", role="rep", team=rep.team)).get(kept.get_absolute_url()))


# --- Tombstones ---------------------------------------------------------------------------------------


def test_the_merged_records_addresses_lead_to_the_survivor(client, admin):
    a, b, c = (organization_create(actor=admin, name=name) for name in ("Acme", "ACME AG", "Acme Inc."))
    merging.organizations_merge(survivor=b, merged=a, actor=admin)
    merging.organizations_merge(survivor=c, merged=b, actor=admin)
    signed_in(client, admin)
    response = client.get(f"/pipeline/organizations/{a.pk}/?tab=deals")
    assert response.status_code == 302 and response["Location"] == f"/pipeline/organizations/{c.pk}/?tab=deals"
    assert client.get(f"/pipeline/leads/{b.pk}/")["Location"] == f"/pipeline/leads/{c.pk}/"
    assert client.get(reverse("pipeline:organization_merge", args=[a.pk]))["Location"] == reverse(
        "pipeline:organization_merge", args=[c.pk]
    )
    assert client.get("/pipeline/organizations/999999/").status_code == 404
    assert client.post(f"/pipeline/organizations/{a.pk}/merge/", {"other": b.pk}).status_code == 404  # never a POST


def test_a_hidden_record_does_not_redirect_and_the_hidden_survivor_stays_hidden(client, rep):
    olga = UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))
    theirs = organization_create(actor=olga, name="Theirs", owner=olga)
    DealFactory(owner=olga, organization=theirs)
    gone = organization_create(actor=olga, name="Theirs AG", owner=olga)
    merging.organizations_merge(survivor=theirs, merged=gone, actor=olga)
    response = signed_in(client, rep).get(f"/pipeline/organizations/{gone.pk}/", follow=True)
    assert response.status_code == 404 and "Theirs" not in text(response)


# --- Merging people ------------------------------------------------------------------------------------


def test_people_are_merged_from_their_merge_page(client, rep):
    kept = person_create(actor=rep, name="Anna Schmidt", owner=rep, emails=["anna@acme.de"])
    other = person_create(actor=rep, name="Schmidt, Anna", owner=rep, emails=["anna@acme.de", "a@gmail.com"])
    url = reverse("pipeline:person_merge", args=[kept.pk])
    signed_in(client, rep)
    assert "a@gmail.com" in text(client.get(f"{url}?other={other.pk}"))
    response = client.post(url, {"other": other.pk})
    assert response.status_code == 302
    assert not Person.objects.filter(pk=other.pk).exists()
    assert list(kept.emails.values_list("address", flat=True)) == ["anna@acme.de", "a@gmail.com"]
    assert MergedRecord.objects.get().old_id == other.pk
    assert client.get(reverse("pipeline:person_merge", args=[other.pk])).status_code == 302


def test_an_erased_person_has_no_merge_page(client, admin):
    person = person_create(actor=admin, name="Anna")
    Person.objects.filter(pk=person.pk).update(erased_at="2026-01-01T00:00:00Z")
    response = signed_in(client, admin).get(reverse("pipeline:person_merge", args=[person.pk]))
    assert response.status_code == 403


# --- A person's data ---------------------------------------------------------------------------------------


@pytest.fixture
def anna(rep):
    acme = organization_create(actor=rep, name="Acme", owner=rep, contact_name="Anna Schmidt", contact_email="anna@acme.de")
    return acme.main_contact


def test_a_manager_reads_everything_held_about_a_person_and_the_reading_is_recorded(client, manager, anna):
    response = signed_in(client, manager).get(reverse("pipeline:person_data", args=[anna.pk]))
    assert response.status_code == 200
    body = text(response)
    assert "anna@acme.de" in body and "Acme" in body and reverse("pipeline:person_erase", args=[anna.pk]) in body
    assert ConfigChange.objects.get(action="export").changes == {"export": [None, "page"]}


def test_the_data_downloads_as_json(client, admin, anna):
    response = signed_in(client, admin).get(reverse("pipeline:person_data_json", args=[anna.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="stageflow-person-{anna.pk}.json"'
    data = json.loads(response.content)
    assert data["person"]["name"] == "Anna Schmidt" and data["emails"] == [{"address": "anna@acme.de", "kind": "work"}]
    assert ConfigChange.objects.get(action="export").changes == {"export": [None, "json"]}


def test_a_rep_may_not_export_or_erase_not_even_their_own_contact(client, rep, anna):
    signed_in(client, rep)
    for name in ("pipeline:person_data", "pipeline:person_data_json", "pipeline:person_erase"):
        response = client.get(reverse(name, args=[anna.pk]))
        assert response.status_code == 403, name
    assert client.post(reverse("pipeline:person_erase", args=[anna.pk]), {"confirm": "yes"}).status_code == 403
    assert Person.objects.get(pk=anna.pk).erased_at is None and not ConfigChange.objects.filter(action="export").exists()


def test_an_erasure_needs_a_confirmation_and_then_erases(client, manager, anna):
    url = reverse("pipeline:person_erase", args=[anna.pk])
    signed_in(client, manager)
    assert "cannot be undone" in text(client.get(url))
    response = client.post(url, {})
    assert response.status_code == 400 and "Confirm that the request was checked" in text(response)
    assert Person.objects.get(pk=anna.pk).erased_at is None
    response = client.post(url, {"confirm": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == anna.get_absolute_url()  # the person page says the data was erased
    assert f"The personal data of person #{anna.pk} was erased." in text(response)
    assert Person.objects.get(pk=anna.pk).name == f"Erased person #{anna.pk}"
    assert client.post(url, {"confirm": "yes"}).status_code == 403  # erased: only admins see the record now


def test_an_admin_sees_an_erased_persons_remaining_record(client, admin, anna):
    signed_in(client, admin).post(reverse("pipeline:person_erase", args=[anna.pk]), {"confirm": "yes"})
    body = text(client.get(reverse("pipeline:person_data", args=[anna.pk])))
    assert f"Erased person #{anna.pk}" in body and "anna@acme.de" not in body and "Anna Schmidt" not in body
    assert reverse("pipeline:person_erase", args=[anna.pk]) not in body
    response = client.post(reverse("pipeline:person_erase", args=[anna.pk]), {"confirm": "yes"})
    assert response.status_code == 409 and "erased already" in text(response)


def test_the_pages_speak_german(client, manager, anna, pair):
    signed_in(client, manager)
    german = {"HTTP_ACCEPT_LANGUAGE": "de"}
    assert "Mögliche Dubletten" in text(client.get(reverse("pipeline:duplicates"), **german))
    assert "Personenbezogene Daten löschen" in text(client.get(reverse("pipeline:person_erase", args=[anna.pk]), **german))
    assert "Gespeicherte Daten über Anna Schmidt" in text(client.get(reverse("pipeline:person_data", args=[anna.pk]), **german))


def test_a_merge_that_a_service_refuses_shows_why_and_changes_nothing(client, rep):
    """An address stored before addresses were checked (an old import) is refused when the merge
    writes the survivor's addresses: the page says which one, nothing is merged."""
    from pipeline.models import PersonEmail

    kept = person_create(actor=rep, name="Jörg Weiß", owner=rep, emails=["joerg@acme.de"])
    PersonEmail.objects.filter(person=kept).update(address="jörg@acme.de")
    other = person_create(actor=rep, name="Weiß, Jörg", owner=rep, emails=["jw@acme.de"])
    response = signed_in(client, rep).post(reverse("pipeline:person_merge", args=[kept.pk]), {"other": other.pk})
    assert response.status_code == 409 and "“jörg@acme.de” is not an e-mail address." in text(response)
    assert Person.objects.filter(pk=other.pk).exists() and not MergedRecord.objects.exists()
