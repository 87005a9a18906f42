"""Managers reassign deals within their team; reps cannot give their deals away (the deal page's
edit form offers and accepts only assignable people)."""
import pytest
from django.urls import reverse

from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(stages):
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    people = {
        "max": UserFactory(username="max", role="manager", team=north),
        "rita": UserFactory(username="rita", role="rep", team=north),
        "tom": UserFactory(username="tom", role="rep", team=north),
        "olga": UserFactory(username="olga", role="rep", team=south),
    }
    north.manager = people["max"]
    north.save()
    deal = DealFactory(owner=people["rita"], stage=stages["Prospecting"])
    return people, deal


def edit(client, deal, owner):
    data = {
        "title": deal.title, "organization": deal.organization_id, "amount": "1000.00", "currency": deal.currency,
        "expected_close": "", "probability": "", "next_step": "", "owner": owner.pk, "version": deal.version,
    }
    return client.post(reverse("pipeline:deal_detail", args=[deal.pk]), data)


def test_manager_reassigns_a_deal_within_the_team(client, org):
    people, deal = org
    client.force_login(people["max"])
    response = edit(client, deal, people["tom"])
    assert response.status_code == 302, response.content.decode()[:2000]
    deal.refresh_from_db()
    assert deal.owner == people["tom"]


def test_manager_cannot_give_a_deal_to_another_team(client, org):
    people, deal = org
    client.force_login(people["max"])
    response = edit(client, deal, people["olga"])
    assert response.status_code == 400
    deal.refresh_from_db()
    assert deal.owner == people["rita"]


def test_rep_cannot_give_their_deal_away(client, org):
    people, deal = org
    client.force_login(people["rita"])
    page = client.get(reverse("pipeline:deal_detail", args=[deal.pk]))
    owner_choices = {str(pk) for pk, _ in page.context["form"].fields["owner"].choices if pk}
    assert owner_choices == {str(people["rita"].pk)}
    response = edit(client, deal, people["tom"])
    assert response.status_code == 400
    deal.refresh_from_db()
    assert deal.owner == people["rita"]
