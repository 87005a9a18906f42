"""The Server-Timing header says how long the app took, only where settings.SERVER_TIMING allows."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_answers_carry_the_apps_time_when_server_timing_is_on(client, settings):
    settings.SERVER_TIMING = True
    response = client.get("/accounts/login/")
    assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["Server-Timing"])


@pytest.mark.django_db
def test_a_server_with_server_timing_off_does_not_tell_how_long_it_took(client, settings):
    settings.SERVER_TIMING = False
    assert "Server-Timing" not in client.get("/accounts/login/").headers


@pytest.mark.parametrize(
    ("debug", "server_timing", "expected"),
    [("1", None, "True"), ("0", None, "False"), ("1", "0", "False"), ("0", "1", "True")],
)
def test_server_timing_follows_debug_unless_the_environment_says_otherwise(debug, server_timing, expected):
    env = {key: value for key, value in os.environ.items() if key not in {"SERVER_TIMING", "DEBUG"}}
    env.update(DEBUG=debug, SECRET_KEY="only-for-this-test-" + "x" * 40)
    if server_timing is not None:
        env["SERVER_TIMING"] = server_timing
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.SERVER_TIMING)"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert done.stdout.strip() == expected
