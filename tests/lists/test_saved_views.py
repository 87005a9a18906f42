"""Saved views: personal or shared with the team, pinned in the navigation, a person's default."""
from decimal import Decimal

import pytest
from django.urls import reverse

from lists import services
from lists.models import DefaultView, SavedView
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def teammate(team):
    return UserFactory(username="tom", role="rep", team=team)


@pytest.fixture
def outsider(db):
    return UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))


def _save(client, name="Big ones", **extra):
    data = {"name": name, "amount__gte": "1000", "cols": "title,amount", "sort": "-amount", "after": "x", **extra}
    return client.post(reverse("lists:savedview_create", args=["deals"]), data)


def test_saving_keeps_the_filter_columns_and_sort_but_not_the_page(client, rep):
    client.force_login(rep)
    response = _save(client)
    view = SavedView.objects.get(name="Big ones")
    assert response.status_code == 302 and response["Location"].endswith(f"?saved={view.pk}")
    assert view.query == "amount__gte=1000&cols=title%2Camount&sort=-amount" and view.team_id is None


def test_a_saved_view_shows_its_list(client, rep, stages):
    organization = OrganizationFactory(owner=rep)
    DealFactory(title="Large", owner=rep, organization=organization, stage=stages["Offer"], amount=Decimal("5000"))
    DealFactory(title="Tiny", owner=rep, organization=organization, stage=stages["Offer"], amount=Decimal("5"))
    client.force_login(rep)
    _save(client)
    view = SavedView.objects.get()
    page = client.get(view.get_absolute_url())
    assert [r.record.title for r in page.context["page"].rows] == ["Large"]
    assert [c.name for c in page.context["state"].columns] == ["title", "amount"]


def test_a_personal_view_is_its_owners_alone(client, rep, teammate):
    client.force_login(rep)
    _save(client)
    view = SavedView.objects.get()
    client.force_login(teammate)
    assert client.get(view.get_absolute_url()).status_code == 404
    assert client.post(reverse("lists:savedview_delete", args=[view.pk])).status_code == 404
    assert client.post(reverse("lists:savedview_default", args=[view.pk])).status_code == 404


def test_a_team_view_is_used_by_the_team_but_changed_only_by_its_owner(client, rep, teammate, outsider):
    client.force_login(rep)
    _save(client, share="1")
    view = SavedView.objects.get()
    assert view.team_id == rep.team_id
    client.force_login(teammate)
    assert client.get(view.get_absolute_url()).status_code == 200
    assert client.post(reverse("lists:savedview_default", args=[view.pk])).status_code == 302
    assert DefaultView.objects.get(user=teammate).view == view
    assert client.post(reverse("lists:savedview_delete", args=[view.pk])).status_code == 404
    client.force_login(outsider)
    assert client.get(view.get_absolute_url()).status_code == 404


def test_a_default_view_opens_the_list_and_the_list_can_still_show_everything(client, rep, stages):
    organization = OrganizationFactory(owner=rep)
    DealFactory(title="Large", owner=rep, organization=organization, stage=stages["Offer"], amount=Decimal("5000"))
    DealFactory(title="Tiny", owner=rep, organization=organization, stage=stages["Offer"], amount=Decimal("5"))
    client.force_login(rep)
    _save(client, make_default="1")
    assert [r.record.title for r in client.get(reverse("lists:list", args=["deals"])).context["page"].rows] == ["Large"]
    everything = client.get(reverse("lists:list", args=["deals"]) + "?view=all")
    assert {r.record.title for r in everything.context["page"].rows} == {"Large", "Tiny"}


def test_pinned_views_appear_in_the_navigation_menu(client, rep, teammate):
    client.force_login(rep)
    _save(client, name="Pinned one", pin="1", share="1")
    _save(client, name="Not pinned")
    client.force_login(teammate)
    menu = client.get(reverse("lists:pinned")).content.decode()
    assert "Pinned one" in menu and "Not pinned" not in menu
    client.force_login(rep)
    view = SavedView.objects.get(name="Not pinned")
    client.post(reverse("lists:savedview_pin", args=[view.pk]), {"pinned": "1"})
    assert "Not pinned" in client.get(reverse("lists:pinned")).content.decode()


def test_a_view_needs_a_name_and_a_team_to_share_with(client, rep):
    loner = UserFactory(username="lone", role="rep")
    with pytest.raises(services.SavedViewRefused):
        services.saved_view_create(actor=rep, kind="deals", name=" ", params=_params())
    with pytest.raises(services.SavedViewRefused):
        services.saved_view_create(actor=loner, kind="deals", name="Mine", params=_params(), share_with_team=True)
    client.force_login(rep)
    response = client.post(reverse("lists:savedview_create", args=["deals"]), {"name": "", "status": "open"})
    assert response.status_code == 302 and not SavedView.objects.exists()


def test_the_owner_deletes_their_view(client, rep):
    client.force_login(rep)
    _save(client)
    view = SavedView.objects.get()
    assert client.post(reverse("lists:savedview_delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()


def _params():
    from django.http import QueryDict

    return QueryDict("status=open")
