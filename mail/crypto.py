"""Mailbox passwords and tokens, encrypted at rest with Fernet (the `cryptography` package).

The keys come from STAGEFLOW_MAIL_KEY (comma-separated Fernet keys: the first encrypts, all decrypt,
so a key can be rotated). Without it a development key derived from SECRET_KEY is used, only when
DEBUG is on; otherwise mailboxes cannot be connected (SyncProblem.NO_KEY). A secret is never
shown again, and never logged: nothing here logs, and callers log only mailbox ids and problems.
"""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class NoKey(Exception):
    """No encryption key is configured."""


class CannotDecrypt(Exception):
    """The stored secret was encrypted with a key that is no longer configured."""


def _keys() -> list[bytes]:
    configured = [key.strip() for key in settings.STAGEFLOW.get("MAIL_KEYS", []) if key.strip()]
    if configured:
        return [key.encode() for key in configured]
    if settings.DEBUG:
        digest = hashlib.sha256(("stageflow-mail-development:" + settings.SECRET_KEY).encode()).digest()
        return [base64.urlsafe_b64encode(digest)]
    raise NoKey


def is_configured() -> bool:
    try:
        _keys()
    except NoKey:
        return False
    return True


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CannotDecrypt from exc
