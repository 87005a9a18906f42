"""The stored forecast fits in the admin: readable by admins (per stage the learned next to the
configured probability, the slips and the correlation), changed by nobody, hidden from reps and
managers, in English and German."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from forecasting.models import ForecastFit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _parameters(stages, *, correlation=0.15):
    """A stored fit of the pipeline's stages: learned 0.5 everywhere, slips behind the offer."""
    return {
        "stages": [
            {
                "id": stage.pk,
                "learned": 0.5,
                "configured": float(stage.probability) / 100,
                "closed_deals": 40 if stage.name == "Offer" else 7,
                "slips": [[-3, 5], [10, 20]] if stage.name == "Offer" else [],
            }
            for stage in stages.values()
        ],
        "pooled_slips": [[0, 4], [12, 6], [30, 1]],
        "correlation": correlation,
        "prior_strength": 12.0,
    }


@pytest.fixture
def fit(pipeline, stages):
    return ForecastFit.objects.create(pipeline=pipeline, fitted_on="2026-11-02", parameters=_parameters(stages))


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_an_admin_lists_the_fits_with_their_summary(admin_client, fit, pipeline, stages):
    body = admin_client.get(reverse("admin:forecasting_forecastfit_changelist")).content.decode()
    assert pipeline.name in body
    assert "15.0 %" in body  # the correlation
    assert f'<td class="field-stage_count">{len(stages)}</td>' in body
    assert '<td class="field-closed_deals">40</td>' in body


def test_an_admin_reads_a_fit_per_stage_and_cannot_save_it(admin_client, fit, stages):
    response = admin_client.get(reverse("admin:forecasting_forecastfit_change", args=[fit.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    offer = stages["Offer"]
    assert f"<tr><td>{offer.name}</td><td>{offer.probability:.0f} %</td><td>50.0 %</td><td>40</td>" in body
    assert "25 won deals, median +10 days" in body  # the offer's slips: 5 at −3 days, 20 at +10
    assert "11 won deals, median +12 days" in body  # all won deals: 4 at 0, 6 at +12, 1 at +30
    assert 'name="_save"' not in body and "deletelink" not in body


def test_nobody_adds_changes_or_deletes_a_fit(admin_client, fit):
    assert admin_client.post(reverse("admin:forecasting_forecastfit_change", args=[fit.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:forecasting_forecastfit_delete", args=[fit.pk])).status_code == 403
    delete = reverse("admin:forecasting_forecastfit_delete", args=[fit.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:forecasting_forecastfit_add")).status_code == 403
    assert ForecastFit.objects.filter(pk=fit.pk).exists()


def test_a_stage_deleted_since_the_fit_is_named_as_such(admin_client, pipeline, stages):
    parameters = _parameters(stages)
    parameters["stages"].append({"id": 987654, "learned": 0.2, "configured": 0.1, "closed_deals": 3, "slips": []})
    fit = ForecastFit.objects.create(pipeline=pipeline, fitted_on="2026-11-03", parameters=parameters)
    body = admin_client.get(reverse("admin:forecasting_forecastfit_change", args=[fit.pk])).content.decode()
    assert "a stage deleted since (#987654)" in body


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_cannot_open_the_fits(client, role, team, fit):
    client.force_login(UserFactory(role=role, team=team))
    for url in (
        reverse("admin:forecasting_forecastfit_changelist"),
        reverse("admin:forecasting_forecastfit_change", args=[fit.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_list_runs_as_many_queries_for_more_fits(admin_client, pipeline, stages, django_assert_num_queries):
    url = reverse("admin:forecasting_forecastfit_changelist")
    ForecastFit.objects.create(pipeline=pipeline, fitted_on="2026-11-01", parameters=_parameters(stages))
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    for day in range(2, 12):
        ForecastFit.objects.create(pipeline=pipeline, fitted_on=f"2026-11-{day:02d}", parameters=_parameters(stages))
    with django_assert_num_queries(len(few)):
        assert admin_client.get(url).status_code == 200


def test_the_fit_pages_speak_german(client, admin_user, fit):
    admin_user.language = "de"
    admin_user.save(update_fields=["language"])
    client.force_login(admin_user)
    listing = client.get(reverse("admin:forecasting_forecastfit_changelist"), HTTP_ACCEPT_LANGUAGE="de")
    assert "Prognosemodelle" in listing.content.decode()
    detail = client.get(reverse("admin:forecasting_forecastfit_change", args=[fit.pk]), HTTP_ACCEPT_LANGUAGE="de")
    body = detail.content.decode()
    assert "Korrelation der Ergebnisse" in body and "25 gewonnene Deals, Median +10 Tage" in body
