import os
import sys

import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests create many users; a fast hasher keeps them quick (hash strength is Django's
    concern, not what these tests protect). Sign-in tests still check real passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After the run: how many cases the permission matrix checked (the matrix itself with -v)."""
    module = sys.modules.get("tests.accounts.test_permission_matrix")
    if module is None:
        return
    verbose = config.getoption("verbose") > 0 or bool(os.environ.get("STAGEFLOW_MATRIX_REPORT"))
    lines = module.matrix_report_lines(verbose)
    if lines:
        terminalreporter.section("permission matrix")
        for line in lines:
            terminalreporter.write_line(line)
