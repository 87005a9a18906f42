"""Fixtures that start real servers: Dovecot (IMAP), aiosmtpd (SMTP), Radicale (CalDAV)."""
import pytest

from tests.mail import servers


@pytest.fixture(scope="session")
def dovecot_server():
    """One Dovecot for the session; each test gets users of its own (`imap_account`)."""
    reason = servers.dovecot_missing()
    if reason:
        pytest.skip(reason)
    server = servers.start_dovecot()
    yield server
    servers.remove_dovecot(server)


@pytest.fixture
def own_dovecot():
    """A Dovecot of the test's own, for tests that stop and start it."""
    reason = servers.dovecot_missing()
    if reason:
        pytest.skip(reason)
    server = servers.start_dovecot()
    yield server
    servers.remove_dovecot(server)


@pytest.fixture
def imap_account(dovecot_server):
    """A fresh IMAP user: (server, username, password)."""
    username, password = dovecot_server.add_user()
    return dovecot_server, username, password


@pytest.fixture
def smtp_server():
    server, controller = servers.start_smtp()
    yield server
    controller.stop()


@pytest.fixture
def radicale_server():
    server = servers.start_radicale()
    yield server
    servers.stop_radicale(server)
