"""Admins define the ideal customer profile in the admin; saving it rescores every lead once."""
import pytest
from django.urls import reverse

from pipeline.models import Organization, Transition
from qualification.models import Profile
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def test_admin_defines_a_profile_with_criteria_and_organizations_are_rescored(client, admin_user, django_capture_on_commit_callbacks):
    organization = OrganizationFactory(industry="Software", company_size="11-50", country="CH")
    client.force_login(admin_user)
    data = {
        "name": "DACH software", "description": "", "is_active": "on",
        "criteria-TOTAL_FORMS": "2", "criteria-INITIAL_FORMS": "0", "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
        "criteria-0-attribute": "industry", "criteria-0-values": "software", "criteria-0-weight": "60",
        "criteria-0-position": "1",
        "criteria-1-attribute": "company_size", "criteria-1-values": "11–50 employees", "criteria-1-weight": "40",
        "criteria-1-position": "2",
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("admin:qualification_profile_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = Profile.objects.get()
    assert list(profile.criteria.values_list("values", flat=True)) == ["software", "11-50"]
    rescores = [c for c in callbacks if getattr(c, "__name__", "") == "_enqueue_rescore"]
    assert len(rescores) == 1
    organization.refresh_from_db()
    assert organization.fit_score == 100


def test_admin_refuses_unknown_criterion_values(client, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Bad", "is_active": "on",
        "criteria-TOTAL_FORMS": "1", "criteria-INITIAL_FORMS": "0", "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
        "criteria-0-attribute": "source", "criteria-0-values": "carrier pigeon", "criteria-0-weight": "10",
        "criteria-0-position": "1",
    }
    response = client.post(reverse("admin:qualification_profile_add"), data)
    assert response.status_code == 200 and "Unknown values: carrier pigeon" in response.content.decode()
    assert not Profile.objects.exists()


def test_admin_rescore_action(client, admin_user, profile):
    OrganizationFactory(industry="Software", company_size="51-200", country="DE")
    Organization.objects.update(fit_score=None)
    client.force_login(admin_user)
    response = client.post(reverse("admin:qualification_profile_changelist"),
                           {"action": "rescore_now", "_selected_action": [profile.pk]}, follow=True)
    assert "1 lead got a new fit score." in response.content.decode()
    assert Organization.objects.get().fit_score == 100


def test_transition_admin_shows_the_minimum_fit_score(client, admin_user, stages):
    client.force_login(admin_user)
    Transition.objects.filter(to_stage=stages["Meeting & demo"], from_stage=None).update(min_fit_score=60)
    response = client.get(reverse("admin:pipeline_transition_changelist"))
    assert "minimum fit score" in response.content.decode().lower()
