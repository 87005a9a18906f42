"""Admins enter, change and delete rates in the Django admin through the audited services, upload a
file on a page of its own (bad lines listed, nothing written), and see how the last fetch went."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import ConfigChange
from currencies.models import ExchangeRate, RateFetch

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_an_admin_adds_a_rate_through_the_service(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:currencies_exchangerate_add"), {"currency": "usd", "day": "2025-06-02", "rate": "0,8771"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    row = ExchangeRate.objects.get()
    assert (row.currency, row.rate, row.base) == ("USD", Decimal("0.8771"), "EUR")
    assert ConfigChange.objects.get(object_id=str(row.pk)).actor == admin_user


def test_the_form_shows_the_services_refusal_next_to_the_field(admin_client):
    response = admin_client.post(
        reverse("admin:currencies_exchangerate_add"), {"currency": "EUR", "day": "2025-06-02", "rate": "-1"}
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["currency"] == ["EUR is the reporting currency: its rate is always 1."]
    assert form.errors["rate"] == ["A rate must be more than 0."]
    assert not ExchangeRate.objects.exists()


def test_changing_and_deleting_in_the_admin_are_audited(admin_client):
    row = ExchangeRate.objects.create(currency="USD", day=date(2025, 6, 2), rate=Decimal("0.88"))
    response = admin_client.post(reverse("admin:currencies_exchangerate_change", args=[row.pk]), {"rate": "0.89"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.rate == Decimal("0.89") and row.day == date(2025, 6, 2)
    response = admin_client.post(reverse("admin:currencies_exchangerate_delete", args=[row.pk]), {"post": "yes"})
    assert response.status_code == 302 and not ExchangeRate.objects.exists()
    assert list(ConfigChange.objects.order_by("pk").values_list("action", flat=True)) == ["update", "delete"]


def test_uploading_a_file_imports_every_rate(admin_client):
    upload = SimpleUploadedFile("rates.csv", b"currency,date,rate\nUSD,2025-06-02,0.8771\nCHF,2025-06-02,1.0664\n")
    response = admin_client.post(reverse("admin:currencies_exchangerate_import"), {"file": upload}, follow=True)
    assert response.status_code == 200
    assert "2 rates added, 0 changed, 0 unchanged." in response.content.decode()
    assert ExchangeRate.objects.count() == 2


def test_an_upload_with_a_bad_line_lists_it_and_writes_nothing(admin_client):
    upload = SimpleUploadedFile("rates.csv", b"currency,date,rate\nUSD,2025-06-02,0.8771\nCHF,2025-06-31,1.06\n")
    response = admin_client.post(reverse("admin:currencies_exchangerate_import"), {"file": upload})
    assert response.status_code == 400
    assert response.context["errors"] == ["Line 3: “2025-06-31” is not a date (write 2025-01-31 or 31.01.2025)."]
    assert "Nothing was imported" in response.content.decode()
    assert not ExchangeRate.objects.exists()


def test_reps_cannot_reach_the_rates(client, rep):
    client.force_login(rep)
    for name in ("admin:currencies_exchangerate_changelist", "admin:currencies_exchangerate_import"):
        assert client.get(reverse(name)).status_code == 302  # to the admin's sign-in
    assert not ExchangeRate.objects.exists()


def test_the_list_shows_how_the_last_fetch_went(admin_client, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "RATES_FETCH_ENABLED": True}
    RateFetch.objects.create(source_url="http://rates.invalid/", ok=False, message="The source could not be reached.")
    page = admin_client.get(reverse("admin:currencies_exchangerate_changelist")).content.decode()
    assert "sf-fetch-failed" in page and "The source could not be reached." in page


def test_the_fetch_log_is_read_only(admin_client):
    fetch = RateFetch.objects.create(source_url="http://rates.invalid/", ok=True)
    assert admin_client.get(reverse("admin:currencies_ratefetch_changelist")).status_code == 200
    assert admin_client.post(reverse("admin:currencies_ratefetch_delete", args=[fetch.pk]), {"post": "yes"}).status_code == 403
