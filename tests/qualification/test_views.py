"""The lead list: only visible leads, filters, sorting by fit, the HTMX partial."""
import pytest
from django.urls import reverse

from pipeline.models import Organization
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("qualification:lead_list")


def names(response):
    return [organization.name for organization in response.context["page"].object_list]


def scored(name, score, **fields):
    organization = OrganizationFactory(name=name, **fields)
    Organization.objects.filter(pk=organization.pk).update(fit_score=score)
    return organization


def test_organization_list_needs_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_rep_sees_own_and_unowned_organizations_but_not_another_teams(client, rep):
    other = UserFactory(username="olaf", team=TeamFactory(name="South"))
    scored("Mine", 50, owner=rep)
    scored("Nobody's", 40)
    scored("South's", 90, owner=other)
    client.force_login(rep)
    response = client.get(URL)
    assert names(response) == ["Mine", "Nobody's"]


def test_organizations_are_sorted_by_fit_best_first_unscored_last(client, admin_user):
    scored("Low", 10)
    scored("Unscored", None)
    scored("High", 90)
    client.force_login(admin_user)
    assert names(client.get(URL)) == ["High", "Low", "Unscored"]
    assert names(client.get(URL, {"sort": "-fit"})) == ["Unscored", "Low", "High"]
    assert names(client.get(URL, {"sort": "name"})) == ["High", "Low", "Unscored"]


def test_filters_by_industry_country_source_min_score_and_text(client, admin_user):
    scored("Alpha Software", 80, industry="Software", country="DE", source="event")
    scored("Beta Retail", 70, industry="Retail", country="AT", source="referral", contact_name="Berta Meier")
    scored("Gamma Software", 30, industry="Software", country="AT", source="event")
    client.force_login(admin_user)
    assert names(client.get(URL, {"industry": "Software"})) == ["Alpha Software", "Gamma Software"]
    assert names(client.get(URL, {"country": "at"})) == ["Beta Retail", "Gamma Software"]
    assert names(client.get(URL, {"source": "event", "min_score": "50"})) == ["Alpha Software"]
    assert names(client.get(URL, {"q": "meier"})) == ["Beta Retail"]
    # An invalid filter is ignored, not an error.
    assert len(names(client.get(URL, {"min_score": "lots"}))) == 3


def test_htmx_request_gets_only_the_results(client, admin_user):
    scored("Alpha", 80)
    client.force_login(admin_user)
    response = client.get(URL, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Alpha" in body and "<form" not in body and "<html" not in body


def test_score_badge_explains_the_match(client, admin_user):
    from qualification.models import Criterion, Profile

    profile = Profile.objects.create(name="ICP")
    Criterion.objects.create(profile=profile, attribute="industry", values="Software", weight=40)
    Criterion.objects.create(profile=profile, attribute="country", values="DE", weight=60)
    OrganizationFactory(name="Alpha", industry="Software", country="FR")
    client.force_login(admin_user)
    body = client.get(URL).content.decode()
    assert 'data-fit="40"' in body and "Industry is Software (+40)" in body


def test_organization_list_query_count_does_not_grow_with_organizations(client, manager, django_assert_max_num_queries):
    for i in range(30):
        DealFactory(owner=manager, organization=OrganizationFactory(name=f"Lead {i}", owner=manager))
    client.force_login(manager)
    with django_assert_max_num_queries(10):
        response = client.get(URL)
    assert len(names(response)) == 30


def test_fit_badge_and_explanation_templates_render_for_other_pages(profile):
    from django.template.loader import render_to_string
    from django.template import Context, Template

    organization = OrganizationFactory(industry="Software", company_size="1-10", country="DE")
    organization.refresh_from_db()
    badge = Template("{% load qualification_tags %}{% fit_badge organization %}").render(Context({"organization": organization}))
    assert 'data-fit="50"' in badge and "Industry is Software or SaaS (+30)" in badge
    explanation = render_to_string("qualification/_fit_explanation.html", {"organization": organization})
    assert "50 / 100" in explanation and "Company size is 51-200" in explanation and "weight 50" in explanation
    unscored = OrganizationFactory.build(fit_score=None)
    assert "badge" not in Template("{% load qualification_tags %}{% fit_badge organization %}").render(Context({"organization": unscored}))


# --- Every way a lead is written scores it the same way ---------------------------------------------


def test_organizations_written_by_the_organization_pages_the_api_and_the_admin_are_scored(client, rep, admin_user, profile):
    from tests.api.conftest import client_for

    client.force_login(rep)
    client.post(reverse("pipeline:organization_create"), {"name": "Page GmbH", "industry": "Software", "country": "DE",
                                                  "source": "other", "owner": rep.pk})
    page_organization = Organization.objects.get(name="Page GmbH")
    assert page_organization.fit_score == 50
    client.post(reverse("pipeline:organization_edit", args=[page_organization.pk]), {
        "name": "Page GmbH", "industry": "Software", "country": "DE", "company_size": "51-200", "source": "other",
        "owner": rep.pk,
    })
    assert Organization.objects.get(pk=page_organization.pk).fit_score == 100

    api = client_for(rep)
    created = api.post("/api/v1/organizations/", {"name": "Api AG", "industry": "Software"}, format="json").json()
    assert Organization.objects.get(pk=created["id"]).fit_score == 30
    api.patch(f"/api/v1/leads/{created['id']}/", {"country": "AT"}, format="json")
    assert Organization.objects.get(pk=created["id"]).fit_score == 50

    client.force_login(admin_user)
    client.post(reverse("admin:pipeline_organization_add"), {
        "name": "Admin KG", "industry": "SaaS", "company_size": "51-200", "country": "", "website": "",
        "source": "other", "owner": "", "contact_name": "", "contact_email": "", "contact_phone": "",
        "created_at_0": "2026-12-01", "created_at_1": "10:00:00",
        "deals-TOTAL_FORMS": 0, "deals-INITIAL_FORMS": 0, "deals-MIN_NUM_FORMS": 0, "deals-MAX_NUM_FORMS": 0,
    })
    assert Organization.objects.get(name="Admin KG").fit_score == 80


def test_organizations_in_the_top_bar_is_the_list_with_fit_scores(client, rep):
    scored("Alpha", 80, owner=rep)
    client.force_login(rep)
    body = client.get(reverse("pipeline:board")).content.decode()
    assert f'href="{URL}">Leads</a>' in body and ">Qualification</a>" not in body
    listing = client.get(URL).content.decode()
    assert 'class="nav-link active" aria-current="page" href="/qualification/leads/"' in listing
    assert 'data-fit="80"' in listing


def test_filters_by_owner(client, admin_user, rep):
    other = UserFactory(username="olaf")
    scored("Rep's", 50, owner=rep)
    scored("Olaf's", 60, owner=other)
    client.force_login(admin_user)
    assert names(client.get(URL, {"owner": rep.pk})) == ["Rep's"]
    assert f'<option value="{other.pk}">' in client.get(URL).content.decode()


def test_the_fit_column_header_sorts_by_fit_and_back(client, admin_user):
    client.force_login(admin_user)
    body = client.get(URL, {"industry": "Software"}).content.decode()
    assert 'aria-sort="descending"' in body and 'href="?industry=Software&amp;sort=-fit"' in body
    body = client.get(URL, {"sort": "-fit"}).content.decode()
    assert 'aria-sort="ascending"' in body and 'href="?sort=fit"' in body


def test_the_organization_page_shows_the_fit_score_and_why(client, admin_user, profile):
    organization = OrganizationFactory(industry="Software", company_size="1-10", country="DE")
    client.force_login(admin_user)
    body = client.get(organization.get_absolute_url()).content.decode()
    assert "Fit to the ideal customer profile" in body and "50 / 100" in body
    assert "Company size is 51-200" in body
