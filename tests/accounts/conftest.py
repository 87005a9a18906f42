import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests create many users; a fast hasher keeps them quick (hash strength is Django's
    concern, not what these tests protect). Sign-in tests still check real passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
