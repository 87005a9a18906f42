"""A rep's mail in a real browser: a thread synced from a real IMAP server (Dovecot) on the deal's
timeline, opened, made private; the mailbox page says what went wrong in words. axe-core over both."""
import pytest
from playwright.sync_api import expect

from mail import sync
from tests.browser.test_accessibility import axe
from tests.factories import UserFactory
from tests.mail.conftest import dovecot_server, imap_account  # noqa: F401  real servers for this module
from tests.mail.helpers import connect_mailbox, customer_on_deal, deliver, message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def rep(db):
    return UserFactory(username="rita", first_name="Rita", last_name="Roth", role="rep")


def test_a_synced_thread_shows_on_the_deal_and_opens_sanitised(page, sign_in, rep, imap_account):
    server, username, password = imap_account
    person, deal = customer_on_deal(rep)
    mailbox = connect_mailbox(rep, server, username, password)
    deliver(server, username, password, message(
        subject="Rollout plan for Kunde GmbH", to=username, body="Dear Rita, attached is our plan.",
        html="<p>Dear Rita,</p><p>attached is our <b>rollout plan</b>.</p><script>document.title='owned'</script>",
    ))
    assert sync.mailbox_sync(mailbox).stored == 1

    sign_in(rep, next_url=deal.get_absolute_url())
    entry = page.locator(".sf-tl-mail")
    expect(entry).to_contain_text("Rollout plan for Kunde GmbH")
    page.screenshot(path="/tmp/stageflow-mail-deal.png", full_page=True)
    assert axe(page, "deal page with an e-mail thread") == []

    entry.get_by_role("link", name="Rollout plan for Kunde GmbH").click()
    expect(page.locator(".sf-mail-html")).to_contain_text("attached is our rollout plan.")
    assert page.title() != "owned"
    page.screenshot(path="/tmp/stageflow-mail-thread.png", full_page=True)
    assert axe(page, "e-mail thread") == []
    page.get_by_role("button", name="Make private").click()
    expect(page.get_by_text("The thread is private: only you see it.")).to_be_visible()


def test_the_mailbox_page_says_in_words_that_the_password_was_refused(page, sign_in, rep, imap_account):
    server, username, password = imap_account
    connect_mailbox(rep, server, username, "wrong-password")
    sync.mailbox_sync(rep.mailbox)
    sign_in(rep, next_url="/mail/settings/")
    expect(page.get_by_role("alert")).to_contain_text("The server refused the user name or password.")
    expect(page.get_by_label("Password, app password or access token")).to_have_value("")
    page.screenshot(path="/tmp/stageflow-mail-settings.png", full_page=True)
    assert axe(page, "mailbox page with a problem") == []
