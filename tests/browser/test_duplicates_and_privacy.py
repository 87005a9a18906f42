"""Finding and merging a duplicate organisation, and erasing a person's data, in a real browser."""
import pytest
from playwright.sync_api import expect

from pipeline.models import Deal, MergedRecord, Organization, Person
from pipeline.organizations import organization_create
from tests.factories import DealFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_rep_finds_a_duplicate_organisation_and_merges_it(page, sign_in):
    rep = UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")
    kept = organization_create(actor=rep, name="ACME GmbH", owner=rep, website="https://www.acme.de")
    other = organization_create(actor=rep, name="Acme", owner=rep, domains="acme.de", industry="Software")
    DealFactory(owner=rep, organization=other, title="Rollout Nord")
    sign_in(rep)

    page.goto("/qualification/leads/")
    page.get_by_role("link", name="Possible duplicates").click()
    expect(page.locator("main")).to_contain_text("same domain: acme.de")
    page.get_by_role("link", name="Merge into “ACME GmbH”").click()
    expect(page.locator("main")).to_contain_text("Software")
    page.get_by_role("button", name="Merge “Acme” into it").click()

    page.wait_for_url(f"**{kept.get_absolute_url()}")
    expect(page.locator("#sf-toasts")).to_contain_text("“Acme” was merged into “ACME GmbH”")
    expect(page.locator("main")).to_contain_text("Rollout Nord")
    assert not Organization.objects.filter(pk=other.pk).exists()
    assert Deal.objects.get(title="Rollout Nord").organization_id == kept.pk
    page.goto(f"/pipeline/organizations/{other.pk}/")
    page.wait_for_url(f"**{kept.get_absolute_url()}")
    assert MergedRecord.objects.get().old_id == other.pk


def test_a_manager_downloads_a_persons_data_and_erases_it(page, sign_in):
    team = TeamFactory(name="North")
    manager = UserFactory(username="maria", first_name="Maria", last_name="Berger", role="manager", team=team)
    rep = UserFactory(username="rita", role="rep", team=team)
    acme = organization_create(actor=rep, name="Acme", owner=rep, contact_name="Anna Schmidt", contact_email="anna@acme.de")
    deal = DealFactory(owner=rep, organization=acme, title="Rollout Nord")
    person = acme.main_contact
    sign_in(manager)

    page.goto(f"/pipeline/people/{person.pk}/data/")
    expect(page.locator("main")).to_contain_text("anna@acme.de")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as JSON").click()
    assert download.value.suggested_filename == f"stageflow-person-{person.pk}.json"
    page.get_by_role("link", name="Erase personal data…").click()
    page.get_by_label("The request was made by this person").check()
    page.get_by_role("button", name="Erase personal data").click()

    page.wait_for_url(f"**{person.get_absolute_url()}")  # the person page, which says their data was erased
    expect(page.locator("#sf-toasts")).to_contain_text(f"The personal data of person #{person.pk} was erased.")
    person.refresh_from_db()
    assert person.name == f"Erased person #{person.pk}" and not person.emails.exists()
    assert Deal.objects.get(pk=deal.pk).amount == deal.amount
