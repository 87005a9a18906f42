"""The test servers themselves answer as real ones do (the mail tests build on them)."""
import imaplib
import smtplib
import urllib.request
from email.message import EmailMessage


def test_dovecot_accepts_its_user_and_refuses_a_wrong_password(imap_account):
    server, username, password = imap_account
    with imaplib.IMAP4(server.host, server.port) as imap:
        imap.login(username, password)
        typ, data = imap.select("INBOX")
        assert typ == "OK"
    with imaplib.IMAP4(server.host, server.port) as imap:
        try:
            imap.login(username, "wrong")
        except imaplib.IMAP4.error as exc:
            assert "AUTHENTICATIONFAILED" in str(exc) or "failed" in str(exc).lower()
        else:
            raise AssertionError("a wrong password was accepted")


def test_aiosmtpd_needs_a_login_and_records_what_it_accepts(smtp_server):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "rep@example.test", "anna@example.com", "Hello"
    message.set_content("Hi Anna")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as smtp:
        try:
            smtp.send_message(message)
        except smtplib.SMTPSenderRefused as exc:
            assert exc.smtp_code == 530
        else:
            raise AssertionError("a message was accepted without a login")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as smtp:
        smtp.login(smtp_server.username, smtp_server.password)
        smtp.send_message(message)
    assert smtp_server.handler.messages[0]["to"] == ["anna@example.com"]
    assert b"Hi Anna" in smtp_server.handler.messages[0]["data"]


def test_radicale_answers_caldav(radicale_server):
    request = urllib.request.Request(radicale_server.url + "rep/", method="PROPFIND", headers={"Depth": "0"})
    request.add_header("Authorization", "Basic cmVwOnNlY3JldA==")  # rep:secret (auth type none accepts any)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 207
