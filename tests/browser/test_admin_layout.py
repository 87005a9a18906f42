"""The admin's pipeline page and transitions list fit a 1440 px screen, in English and German."""
import pytest

from pipeline.models import Pipeline
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_pipeline_page_and_the_transitions_list_fit_1440_px(browser, live_server, language):
    admin = UserFactory(username="ada", role="admin", is_staff=True, is_superuser=True, language=language)
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=live_server.url, locale=language,
        extra_http_headers={"Accept-Language": language},
    )
    page = context.new_page()
    page.goto("/accounts/login/?next=/admin/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    pipeline = Pipeline.objects.get(is_default=True)
    for url in (f"/admin/pipeline/pipeline/{pipeline.pk}/change/", "/admin/pipeline/transition/"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1440, url
    # Every column of the stage and transition rows is in view, the last one (delete) included.
    page.goto(f"/admin/pipeline/pipeline/{pipeline.pk}/change/")
    for table in page.locator(".inline-group .tabular").all():
        assert table.evaluate("e => e.scrollWidth <= e.clientWidth")
    context.close()
