"""The address book in a real browser: putting people on a deal from its page (htmx, and without
JavaScript), and axe-core over the organisation, person and deal pages in the states a rep sees."""
import re

import pytest
from playwright.sync_api import expect

from pipeline.models import ContactRole, DealContact, Person
from pipeline.people import deal_contact_add, person_create
from tests.browser.test_accessibility import axe
from tests.factories import DealFactory, OrganizationFactory, UserFactory, default_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


@pytest.fixture
def deal(rep):
    stages = {s.name: s for s in default_pipeline().stages.all()}
    organization = OrganizationFactory(name="Nordlicht Energie AG", owner=rep, contact_name="Petra Huber",
                                       contact_email="petra@nordlicht.example", domains="nordlicht.example")
    person_create(actor=rep, name="Tim Sommer", organization=organization, owner=rep, job_title="CTO",
                  emails=["tim@nordlicht.example"], phones=["+49 40 555 12"])
    return DealFactory(owner=rep, organization=organization, stage=stages["Meeting & demo"], title="Smart meter rollout")


def contacts(page):
    return page.locator("#contacts .sf-contact")


def test_a_rep_puts_people_on_a_deal_changes_a_role_and_removes_someone_without_leaving_the_page(page, sign_in, rep, deal):
    elsewhere = person_create(actor=rep, name="Alex Quell", owner=rep,
                              organization=OrganizationFactory(name="Beratung Quell", owner=rep, contact_name=""))
    sign_in(rep)
    page.goto(deal.get_absolute_url())
    page.evaluate("window.sfNoReload = true")  # gone if the page reloads
    panel = page.locator("#contacts")
    expect(panel.locator("details.sf-add")).to_have_attribute("open", "")  # nobody on the deal yet: the form is open

    # Someone at the organisation, as decision maker.
    panel.get_by_label("At the organisation").select_option(label="Tim Sommer · CTO")
    panel.get_by_label("Role", exact=True).select_option(label="Decision maker")
    with page.expect_response(lambda r: r.url.endswith(f"/pipeline/deals/{deal.pk}/contacts/") and r.status == 200):
        panel.get_by_role("button", name="Add to the deal").click()
    expect(contacts(page)).to_have_count(1)
    expect(page.locator("#sf-toasts").get_by_text("Tim Sommer is on the deal as Decision maker.")).to_be_visible()

    # Someone else, found by typing and picking a suggestion.
    panel = page.locator("#contacts")
    panel.locator("summary").get_by_text("Add a contact").click()
    field = panel.get_by_label("…or someone else")
    with page.expect_response(lambda r: "/pipeline/people/lookup/" in r.url):
        field.press_sequentially("Alex", delay=30)
    option = panel.locator("datalist option")
    expect(option).to_have_count(1)
    field.fill(option.first.get_attribute("value"))
    panel.get_by_label("Role", exact=True).select_option(label="Champion")
    panel.get_by_role("button", name="Add to the deal").click()
    expect(contacts(page)).to_have_count(2)

    # A new person with a bad address: the reason shows in the panel, nothing is written.
    panel = page.locator("#contacts")
    panel.locator("summary").get_by_text("Add a contact").click()
    panel.get_by_label("…or a new person").fill("Nina Brandt")
    panel.get_by_label("E-mail", exact=True).fill("nina(at)nordlicht")
    panel.get_by_role("button", name="Add to the deal").click()
    expect(page.locator("#contacts [role=alert]")).to_contain_text("“nina(at)nordlicht” is not an e-mail address.")
    expect(contacts(page)).to_have_count(2)
    assert not Person.objects.filter(name="Nina Brandt").exists()

    # Change Tim's role, then remove Alex.
    tim = page.locator("#contacts .sf-contact").filter(has_text="Tim Sommer")
    tim.get_by_label("Role of Tim Sommer", exact=True).select_option(label="Economic buyer")
    tim.get_by_role("button", name="Save the role of Tim Sommer").click()
    expect(page.locator("#sf-toasts").get_by_text("Tim Sommer is Economic buyer on the deal now.")).to_be_visible()
    page.locator("#contacts").get_by_role("button", name="Remove Alex Quell from the deal").click()
    expect(contacts(page)).to_have_count(1)
    expect(page.locator("#contacts")).not_to_contain_text("Alex Quell")

    assert page.evaluate("window.sfNoReload") is True
    rows = {(c.person.name, c.role.name if c.role else None) for c in DealContact.objects.filter(deal=deal).select_related("person", "role")}
    assert rows == {("Tim Sommer", "Economic buyer")}
    assert Person.objects.filter(pk=elsewhere.pk).exists()


def test_without_javascript_the_same_forms_work(browser, live_server, rep, deal):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/accounts/login/?next=" + deal.get_absolute_url())
        page.fill("input[name=username]", rep.username)
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        panel = page.locator("#contacts")
        panel.get_by_label("…or a new person").fill("Nina Brandt")
        panel.get_by_label("E-mail", exact=True).fill("nina@nordlicht.example")
        panel.get_by_label("Role", exact=True).select_option(label="User")
        with page.expect_navigation():
            panel.get_by_role("button", name="Add to the deal").click()
        assert page.url.endswith(deal.get_absolute_url() + "#contacts")
        expect(page.locator("#contacts .sf-contact").filter(has_text="Nina Brandt")).to_have_count(1)
        with page.expect_navigation():
            page.locator("#contacts").get_by_role("button", name="Remove Nina Brandt from the deal").click()
        expect(page.locator("#contacts .sf-contact")).to_have_count(0)
    finally:
        context.close()
    assert Person.objects.get(name="Nina Brandt").organization == deal.organization


def test_the_person_form_adds_rows_and_saves_several_addresses_without_javascript(browser, live_server, rep, deal):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/accounts/login/?next=/pipeline/people/new/")
        page.fill("input[name=username]", rep.username)
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        page.locator("#id_name").fill("Mara Lind")
        page.get_by_label("E-mail address 1", exact=True).fill("mara@lind.example")
        page.get_by_role("button", name="Add another e-mail address").click()
        page.get_by_label("E-mail address 2", exact=True).fill("mara@private.example")
        page.get_by_label("Kind of e-mail address 2").select_option(label="Private")
        page.get_by_label("Phone number 1", exact=True).fill("+49 30 1234-56")
        page.get_by_label("Phone number 1", exact=True).press("Enter")  # Enter saves (the form's default button)
        expect(page.locator("h1")).to_have_text("Mara Lind")
    finally:
        context.close()
    mara = Person.objects.get(name="Mara Lind")
    assert [(e.address, e.kind) for e in mara.emails.all()] == [("mara@lind.example", "work"), ("mara@private.example", "private")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_address_book_pages_pass_axe(browser, live_server, rep, deal, scheme):
    decision_maker = ContactRole.objects.get(name="Decision maker")
    deal_contact_add(deal=deal, person=deal.organization.main_contact, role=decision_maker, actor=rep)
    person = Person.objects.get(name="Tim Sommer")
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url, color_scheme=scheme)
    page = context.new_page()
    problems = {}
    try:
        page.goto("/accounts/login/?next=/pipeline/")
        page.fill("input[name=username]", rep.username)
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        page.wait_for_url("**/pipeline/")
        for url in (deal.organization.get_absolute_url(), person.get_absolute_url(), "/pipeline/organizations/",
                    "/pipeline/people/", "/pipeline/people/new/", f"/pipeline/people/{person.pk}/edit/",
                    f"/pipeline/organizations/{deal.organization_id}/edit/"):
            assert page.goto(url).status == 200, url
            problems[url] = axe(page, f"{scheme} {url}")
        # The deal page with its contacts and the add form open, after a refused add.
        page.goto(deal.get_absolute_url())
        panel = page.locator("#contacts")
        panel.locator("summary").get_by_text("Add a contact").click()
        panel.get_by_role("button", name="Add to the deal").click()
        expect(page.locator("#contacts [role=alert]")).to_be_visible()
        problems["deal page, contacts"] = axe(page, f"{scheme} deal page with contacts")
        # The person form with an error next to a row.
        page.goto("/pipeline/people/new/")
        page.locator("#id_name").fill("Mara Lind")
        page.get_by_label("E-mail address 1", exact=True).fill("not-an-address")
        page.get_by_role("button", name=re.compile("^Save$")).last.click()
        expect(page.locator(".invalid-feedback")).to_contain_text("not an e-mail address")
        problems["person form, errors"] = axe(page, f"{scheme} person form with errors")
    finally:
        context.close()
    assert {url: found for url, found in problems.items() if found} == {}
