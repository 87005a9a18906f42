"""The deployment files keep their promises: five services with health checks and volumes,
migrations before the app starts, no secrets committed, front-end files built in the image."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_web_worker_beat_postgres_and_redis_with_health_checks(compose):
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    assert services["db"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for name in ("web", "worker", "beat", "db", "redis"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert [services[n]["command"] for n in ("web", "worker", "beat", "migrate")] == [
        ["web"], ["worker"], ["beat"], ["migrate"]
    ]


def test_data_lives_in_named_volumes(compose):
    assert set(compose["volumes"]) == {"postgres-data", "redis-data", "media"}
    assert any(v.startswith("postgres-data:") for v in compose["services"]["db"]["volumes"])
    assert any(v.startswith("redis-data:") for v in compose["services"]["redis"]["volumes"])
    # Uploaded files: the web server stores them, the worker makes their previews and removes them.
    for name in ("web", "worker"):
        assert "media:/app/media" in compose["services"][name]["volumes"]


def test_the_app_starts_only_after_migrations_and_healthy_services(compose):
    for name in ("web", "worker", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["db"]["condition"] == depends["redis"]["condition"] == "service_healthy"


def test_settings_come_from_the_environment_and_no_secret_is_committed(compose):
    environment = compose["services"]["web"]["environment"]
    assert environment["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert "${POSTGRES_PASSWORD" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^SECRET_KEY=CHANGE-ME", example, re.M)
    assert re.search(r"^POSTGRES_PASSWORD=CHANGE-ME", example, re.M)
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_the_example_secret_key_is_refused():
    import subprocess
    import sys

    env = {"SECRET_KEY": "CHANGE-ME-to-a-long-random-string", "DEBUG": "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "example value" in done.stderr


def test_the_image_builds_front_end_files_from_npm_and_collects_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "npm ci" in dockerfile
    assert "scripts/vendor_assets.py" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in dockerfile
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for command in ("migrate)", "web)", "worker)", "beat)", "manage.py migrate --noinput", "gunicorn config.wsgi"):
        assert command in entrypoint
