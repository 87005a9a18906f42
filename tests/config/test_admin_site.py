"""The admin is branded as Stageflow's, in the user's language, not as Django's."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "header", "index_title", "django_header"),
    [
        ("en", "Stageflow administration", "Administration", "Django administration"),
        ("de", "Stageflow-Verwaltung", "Verwaltung", "Django-Verwaltung"),
    ],
)
def test_admin_pages_show_the_stageflow_header_in_the_users_language(
    client, admin_user, language, header, index_title, django_header
):
    admin_user.language = language
    admin_user.save(update_fields=["language"])
    client.force_login(admin_user)
    index = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language)
    body = index.content.decode()
    assert index.status_code == 200
    assert f'<a href="/admin/">{header}</a>' in body
    assert f"<title>{index_title} | {header}</title>" in body
    assert f">{index_title}</h1>" in body
    assert django_header not in body
    changelist = client.get(reverse("admin:pipeline_stage_changelist"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"| {header}</title>" in changelist
    assert django_header not in changelist


def test_the_sign_in_page_of_the_admin_is_branded_too(client):
    body = client.get(reverse("admin:login"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Stageflow-Verwaltung" in body and "Django-Verwaltung" not in body
