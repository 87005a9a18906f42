"""Sign-in done properly: lock-out after repeated failures, password change and reset, session
cookies, CSRF on HTMX requests and a production profile that passes `check --deploy`."""
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # tests/factories.py
LOGIN = "/accounts/login/"


def login_post(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


# --- Lock-out -------------------------------------------------------------------------------------


def test_repeated_failed_sign_ins_lock_the_account_with_a_clear_message(client, rep):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = login_post(client, rep.username, "wrong-password")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    locked = login_post(client, rep.username, "wrong-password")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # Even the right password is refused while the lock lasts.
    again = login_post(client, rep.username, PASSWORD)
    assert again.status_code == 429 and "_auth_user_id" not in client.session


def test_lock_out_is_per_user_and_address_so_others_can_still_sign_in(client, rep, manager):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_post(client, rep.username, "wrong-password")
    response = login_post(client, manager.username, PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(manager.pk)


def test_a_successful_sign_in_resets_the_failure_count(client, rep):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login_post(client, rep.username, "wrong-password")
    assert login_post(client, rep.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login_post(client, rep.username, "wrong-password").status_code == 200
    assert login_post(client, rep.username, PASSWORD).status_code == 302


# --- Password change and reset --------------------------------------------------------------------


def test_sign_in_page_links_to_password_reset(client):
    body = client.get(LOGIN).content.decode()
    assert reverse("password_reset") in body


def test_password_change_needs_sign_in_and_changes_the_password(client, rep):
    url = reverse("password_change")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(LOGIN)
    client.force_login(rep)
    page = client.get(url)
    assert page.status_code == 200 and "Change password" in page.content.decode()
    weak = client.post(url, {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    response = client.post(
        url, {"old_password": PASSWORD, "new_password1": "Plum-tree-42!", "new_password2": "Plum-tree-42!"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    rep.refresh_from_db()
    assert rep.check_password("Plum-tree-42!")
    assert client.get(reverse("password_change_done")).status_code == 200  # still signed in


def test_password_reset_flow_sends_a_link_that_sets_a_new_password(client, rep):
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200 and "Forgot your password?" in page.content.decode()
    response = client.post(reverse("password_reset"), {"email": rep.email})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert client.get(reverse("password_reset_done")).status_code == 200
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [rep.email] and message.subject == "Choose a new Stageflow password"
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and "Set my password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "Plum-tree-42!", "new_password2": "Plum-tree-42!"})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert client.get(reverse("password_reset_complete")).status_code == 200
    rep.refresh_from_db()
    assert rep.check_password("Plum-tree-42!")
    # The link works once.
    reused = client.get(link, follow=True)
    assert "no longer valid" in reused.content.decode()


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, rep):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_reset_mail_goes_to_the_console_by_default():
    # Read in a fresh process without EMAIL_BACKEND: the test runner overrides the backend here.
    code = "import config.settings as s; print(s.EMAIL_BACKEND)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=production_env(),
        capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend", result.stderr


# --- Sessions and CSRF ------------------------------------------------------------------------------


def test_session_cookie_is_http_only_and_same_site(client, rep):
    response = login_post(client, rep.username, PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_AGE <= 60 * 60 * 24


def test_sign_out_is_a_post_with_csrf(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    assert client.post(reverse("logout")).status_code == 403
    assert "_auth_user_id" in client.session


def page_csrf_header(client) -> dict:
    """The X-CSRFToken header base.html gives every HTMX request (hx-headers on <body>)."""
    body = client.get(reverse("password_change")).content.decode()
    raw = re.search(r"<body[^>]*hx-headers='([^']+)'", body).group(1)
    return json.loads(raw)


def test_every_htmx_request_carries_the_csrf_token_from_base_html(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    headers = page_csrf_header(client)
    assert set(headers) == {"X-CSRFToken"} and headers["X-CSRFToken"]


def test_htmx_post_without_the_token_is_refused_and_with_it_passes(rep, deal, stages):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    url = reverse("pipeline:deal_move", args=[deal.pk])
    data = {"stage": stages["Qualification"].pk, "version": deal.version}
    refused = client.post(url, data, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    headers = {"HX-Request": "true", **page_csrf_header(client)}
    accepted = client.post(url, data, headers=headers)
    assert accepted.status_code != 403


def test_anonymous_page_request_is_redirected_to_sign_in(client, deal):
    response = client.get(reverse("pipeline:deal_detail", args=[deal.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/pipeline/deals/{deal.pk}/"


def test_expired_session_on_an_htmx_request_sends_the_whole_page_to_sign_in(client, deal):
    # Not the sign-in page swapped into a board column: HX-Redirect, back to the page afterwards.
    response = client.post(
        reverse("pipeline:deal_move", args=[deal.pk]),
        {"stage": 1, "version": 1},
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/pipeline/?q=acme&owner=3"},
    )
    assert response.status_code == 204 and not response.has_header("Location")
    assert response["HX-Redirect"] == f"{LOGIN}?next=%2Fpipeline%2F%3Fq%3Dacme%26owner%3D3"


# --- The production profile ---------------------------------------------------------------------------


def production_env(**extra) -> dict:
    """A production environment: DEBUG off, a long random SECRET_KEY, ALLOWED_HOSTS, and none of
    the test suite's relaxations (plain-HTTP cookies, no TLS redirect)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "SYSTEMROOT", "TMPDIR"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="crm.example.com",
        DJANGO_SETTINGS_MODULE="config.settings",
        **extra,
    )
    return env


def run_deploy_check(env):
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_in_the_production_profile():
    result = run_deploy_check(production_env())
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_check_deploy_catches_a_weak_production_setting():
    # The check above can fail: turning off the TLS redirect is reported.
    result = run_deploy_check(production_env(SECURE_SSL_REDIRECT="0"))
    assert result.returncode != 0 and "security.W008" in result.stdout + result.stderr
