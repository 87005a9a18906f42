"""Sign-in for the API: sessions (with CSRF), personal tokens (hashed, shown once, revocable),
rate limiting per token, and CORS closed by default."""
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.models import ApiToken, token_digest
from api.throttling import ApiRateThrottle
from tests.api.conftest import client_for, token_client

pytestmark = pytest.mark.django_db


def test_token_is_stored_only_as_a_hash(rep):
    token, key = ApiToken.issue(user=rep, name="Billing")
    assert key.startswith("sf_") and len(key) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == token_digest(key) and key not in (stored.digest, stored.prefix)
    assert stored.prefix == key[:10]


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_token_authenticates_and_records_its_use(rep, own_deal, keyword):
    token, key = ApiToken.issue(user=rep, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    assert client.get(f"/api/v1/deals/{own_deal.pk}/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "header", ["Bearer sf_wrong", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9".encode().decode("latin-1")]
)
def test_bad_tokens_are_401_with_a_challenge(header, own_deal):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/deals/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working_at_once(rep, own_deal):
    client, token = token_client(rep)
    assert client.get("/api/v1/deals/").status_code == 200
    token.revoke()
    assert client.get("/api/v1/deals/").status_code == 401


def test_token_clients_are_not_redirected_to_the_sign_in_page(rep):
    client, _ = token_client(rep)
    response = client.post("/api/v1/deals/", {"title": "x"}, format="json")
    assert response.status_code == 400  # a JSON answer from the API, not a 302 to /accounts/login/
    assert APIClient().post("/api/v1/deals/", {}, format="json").status_code == 401


def test_token_writes_need_no_csrf_token_but_session_writes_do(rep, own_deal, stages):
    client, _ = token_client(rep)
    client.handler.enforce_csrf_checks = True
    moved = client.post(f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Qualification"].pk, "version": 1}, format="json")
    assert moved.status_code == 200

    session = APIClient(enforce_csrf_checks=True)
    session.force_login(rep)
    refused = session.post(f"/api/v1/deals/{own_deal.pk}/move/", {"stage": stages["Offer"].pk, "version": 2}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_rate_limit_is_per_token(settings, rep):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "3/minute"}}
    first, first_token = token_client(rep)
    second, second_token = token_client(rep)
    for token in (first_token, second_token):
        cache.delete(ApiRateThrottle.cache_format % {"scope": "api", "ident": f"token:{token.pk}"})
    assert [first.get("/api/v1/stages/").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/stages/")
    assert limited.status_code == 429
    assert limited.json()["code"] == "throttled" and int(limited["Retry-After"]) > 0
    assert second.get("/api/v1/stages/").status_code == 200  # another token has its own budget


def test_cors_is_closed_by_default(rep):
    client = client_for(rep)
    response = client.get("/api/v1/stages/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
    preflight = client.options(
        "/api/v1/stages/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in preflight


def test_cors_allows_a_configured_origin_on_the_api_only(settings, rep):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    client = client_for(rep)
    response = client.get("/api/v1/stages/", HTTP_ORIGIN="https://app.example")
    assert response["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/stages/", HTTP_ORIGIN="https://other.example")


# --- The token page ------------------------------------------------------------------------------


def test_token_page_needs_sign_in(db):
    response = APIClient().get("/api/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_creating_a_token_shows_it_once(rep, client):
    client.force_login(rep)
    response = client.post("/api/tokens/", {"name": "Zapier"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=rep)
    key = response.context["new_key"]
    assert token.digest == token_digest(key) and key in response.content.decode()
    again = client.get("/api/tokens/").content.decode()
    assert key not in again and "Zapier" in again and token.prefix in again


def test_creating_a_token_needs_a_name(rep, client):
    client.force_login(rep)
    response = client.post("/api/tokens/", {"name": ""})
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert response.context["form"].errors


def test_revoking_a_token_from_the_page(rep, client):
    token, key = ApiToken.issue(user=rep, name="Old")
    client.force_login(rep)
    response = client.post(f"/api/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/stages/").status_code == 401


def test_nobody_revokes_or_sees_another_users_token(rep, teammate, client):
    token, _ = ApiToken.issue(user=teammate, name="Theirs")
    client.force_login(rep)
    assert client.post(f"/api/tokens/{token.pk}/revoke/").status_code == 404
    assert "Theirs" not in client.get("/api/tokens/").content.decode()
    token.refresh_from_db()
    assert token.is_active


def test_revoking_needs_post(rep, client):
    token, _ = ApiToken.issue(user=rep, name="Mine")
    client.force_login(rep)
    assert client.get(f"/api/tokens/{token.pk}/revoke/").status_code == 405
