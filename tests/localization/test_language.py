"""The language comes from the browser, the switcher remembers a choice, and the defaults are
created in the installation's language."""
import importlib

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from pipeline.models import LostReason, Pipeline, Stage

pytestmark = pytest.mark.django_db


def test_the_browser_language_is_used_by_default(client, rep):
    client.force_login(rep)
    page = client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert page.headers["Content-Language"] == "de"
    body = page.content.decode()
    assert '<html lang="de"' in body and "Abmelden" in body and "Sign out" not in body
    page = client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    assert "Sign out" in page.content.decode()


def test_the_switcher_remembers_the_choice_on_the_user_and_in_a_cookie(client, rep):
    client.force_login(rep)
    board = reverse("pipeline:board")
    menu = client.get(board, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in menu and 'value="de"' in menu and "Deutsch" in menu
    response = client.post(reverse("set_language"), {"language": "de", "next": board}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response.url == board
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    rep.refresh_from_db()
    assert rep.language == "de"
    # Another device: no cookie, an English browser — the saved choice wins and the cookie is set.
    client.cookies.clear()
    client.force_login(rep)
    page = client.get(board, HTTP_ACCEPT_LANGUAGE="en")
    assert "Abmelden" in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"


def test_the_switcher_works_before_sign_in_and_refuses_get(client):
    response = client.post(reverse("set_language"), {"language": "de", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert "Anmelden" in client.get("/accounts/login/").content.decode()
    assert client.get(reverse("set_language")).status_code == 405


def test_amounts_on_the_board_follow_the_language(client, rep, deal):
    type(deal).objects.filter(pk=deal.pk).update(amount="12345.60", currency="EUR")
    client.force_login(rep)
    german = client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "12.346\u00a0€" in german and "€12,346" in english


@pytest.mark.parametrize(
    ("language", "stage", "reason"), [("de", "Verhandlung", "Preis zu hoch"), ("en", "Negotiation", "Price too high")],
)
def test_default_stages_and_lost_reasons_are_created_in_the_installations_language(settings, language, stage, reason):
    migration = importlib.import_module("pipeline.migrations.0002_default_pipeline")
    Pipeline.objects.all().delete()
    LostReason.objects.all().delete()
    settings.LANGUAGE_CODE = language
    with translation.override("en" if language == "de" else "de"):  # whatever the request's language
        migration.create_defaults(apps, None)
    names = list(Stage.objects.order_by("position").values_list("name", flat=True))
    assert stage in names and len(names) == 6
    assert LostReason.objects.filter(name=reason).exists()


def test_the_sign_in_page_offers_the_languages(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Anmelden" in page and 'value="en"' in page and "English" in page


def test_the_deal_history_shows_amounts_and_dates_in_the_language(client, rep, deal):
    from pipeline.models import DealChange, DealField

    DealChange.objects.create(deal=deal, field=DealField.AMOUNT, old_value="1000.00", new_value="2500.50", actor=rep)
    DealChange.objects.create(deal=deal, field=DealField.EXPECTED_CLOSE, old_value="", new_value="2026-03-05", actor=rep)
    client.force_login(rep)
    url = reverse("pipeline:deal_detail", args=[deal.pk])
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Betrag: 1.000,00 → <strong>2.500,50</strong>" in german
    assert "Erwarteter Abschluss: — → <strong>5. März 2026</strong>" in german
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Amount: 1,000.00 → <strong>2,500.50</strong>" in english


def test_the_menus_follow_each_requests_language_page_and_user(client, rep, admin_user):
    """The frame's menus follow each request: the active language, the page to come back to, the
    active page and the staff link."""
    client.force_login(rep)
    german = client.get(reverse("pipeline:board"), {"q": "x"}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = client.get(reverse("qualification:lead_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'value="de" class="dropdown-item active" lang="de" aria-current="true"' in german
    assert 'value="en" class="dropdown-item active" lang="en" aria-current="true"' in english
    assert '<input type="hidden" name="next" value="/pipeline/?q=x">' in german
    assert '<input type="hidden" name="next" value="/qualification/leads/">' in english
    assert ">Abmelden</button>" in german and ">Sign out</button>" in english
    assert 'class="nav-link active" aria-current="page" href="/pipeline/"' in german
    assert 'class="nav-link active" aria-current="page" href="/qualification/leads/"' in english
    assert "/admin/" not in english
    client.force_login(admin_user)
    assert 'href="/admin/"' in client.get(reverse("qualification:lead_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
