"""Helpers for tests that touch the real services (PostgreSQL, Redis, Celery workers)."""
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def cache_clear_test_keys() -> None:
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


def postgres_missing_reason() -> str | None:
    if connection.vendor != "postgresql":
        return f"needs PostgreSQL (DATABASE_URL=postgres://…); the suite runs on {connection.vendor}"
    return None


def redis_missing_reason() -> str | None:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return "needs Redis (REDIS_URL=redis://…), which is not set"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        return f"Redis at REDIS_URL does not answer ({type(error).__name__})"
    return None


def database_url_of_tests() -> str:
    """DATABASE_URL of the test database this process uses (for subprocesses)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(s['NAME'])}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_redis_url() -> str:
    """A Redis URL nothing listens on: the port was free a moment ago."""
    return f"redis://127.0.0.1:{free_port()}/0"


def subprocess_env(**overrides) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url_of_tests(),
            "DEBUG": "0",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DB_CONN_MAX_AGE": "0",  # the test database is dropped at the end; hold no connection
        }
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Worker:
    """A real `celery -A config worker --pool=solo` process on the test database."""

    # Lean test workers: one process, no chatter between workers.
    TEST_OPTIONS = ["--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    # As docker/entrypoint.sh starts them: a prefork pool, gossip, mingle and heartbeats on.
    PRODUCTION_OPTIONS = ["--concurrency=1"]

    def __init__(self, *, log_dir: Path, module: str | None = None, options: list[str] | None = None, **env):
        self.name = f"stageflow-test-{uuid.uuid4().hex[:8]}@%h"
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.env = subprocess_env(**env)
        self.module = module
        self.options = self.TEST_OPTIONS if options is None else options
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "Worker":
        from config.celery import app

        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        entry = ["-m", self.module] if self.module else ["-m", "celery", "-A", "config"]
        command = [sys.executable, *entry, "worker", *self.options, "--loglevel=INFO", "-n", self.name, "-Q", queue]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The worker exited with {self.process.returncode}:\n{self.log()}")
            if self.answers_ping():
                return self
        self.stop()
        raise RuntimeError(f"The worker did not answer within {timeout} s:\n{self.log()}")

    @property
    def hostname(self) -> str:
        return self.name.replace("%h", socket.gethostname())

    def answers_ping(self, timeout: float = 0.5) -> bool:
        """Through the worker's own broker (CELERY_BROKER_URL or REDIS_URL of its environment)."""
        from celery import Celery

        from config.celery import app

        url = self.env.get("CELERY_BROKER_URL") or self.env.get("REDIS_URL") or app.conf.broker_url
        if url == app.conf.broker_url:
            return bool(app.control.ping(destination=[self.hostname], timeout=timeout))
        # A client of its own: control commands publish through the app's producer pool, which
        # would use this process's broker even with another connection passed in.
        client = Celery("stageflow-test-ping", broker=url, set_as_current=False)
        client.conf.broker_connection_timeout = 1
        try:
            return bool(client.control.ping(destination=[self.hostname], timeout=timeout))
        except Exception:
            return False
        finally:
            client.close()

    def alive(self) -> bool:
        return bool(self.process) and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, no acknowledgement, the way a crashed machine ends."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition", details=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    extra = f"\n{details()}" if details else ""
    raise AssertionError(f"Timed out after {timeout} s waiting for {message}{extra}")


class ThrowawayRedis:
    """A redis-server of a test's own on a free port, to stop and start under running processes
    (the suite's shared Redis is never stopped). Restarted on the same port, empty."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> "ThrowawayRedis":
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_for(answers, timeout=10, message="the throw-away redis-server")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Server:
    """Stageflow under gunicorn on a free port, on the test database."""

    def __init__(self, *, log_dir: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gunicorn-{self.port}.log"
        self.env = subprocess_env(**env)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Server":
        import urllib.error
        import urllib.request

        self._log = open(self.log_path, "w")
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--threads", "4", "--timeout", "60", "--access-logfile", "-",
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=5)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


class Browser:
    """A cookie-keeping HTTP client for a Server: records every status, raises on none."""

    def __init__(self, base_url: str):
        import http.cookiejar
        import urllib.request

        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def csrf_token(self) -> str:
        return next((c.value for c in self.jar if c.name == "csrftoken"), "")

    def request(self, path: str, data: dict | None = None, headers: dict | None = None):
        """Return (status, final path, body, seconds)."""
        import urllib.error
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base_url + path, data=body, headers=headers or {})
        if body is not None:
            req.add_header("X-CSRFToken", self.csrf_token())
        started = time.monotonic()
        try:
            with self.opener.open(req, timeout=30) as response:
                status, final, text = response.status, response.url, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, final, text = error.code, error.url, error.read().decode(errors="replace")
        return status, final[len(self.base_url):], text, time.monotonic() - started

    def sign_in(self, username: str, password: str):
        self.request("/accounts/login/")
        return self.request(
            "/accounts/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": self.csrf_token()},
        )


# --- Forecast results, compared without depending on how the forecast is computed or stored ---

VOLATILE_RESULT_KEYS = {"computed_at", "written"}


def forecast_comparable(result):
    """A refresh's result without when it ran or how much it had to write: two runs on the same
    data must agree on the rest."""
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if k not in VOLATILE_RESULT_KEYS}
    return result


def forecast_clean_run(pipeline_id: int):
    """What a recompute from scratch returns now; rolled back, so it leaves no trace."""
    from django.db import transaction

    from forecasting import services as forecast_services

    with transaction.atomic():
        result = forecast_services.forecast_refresh_pipeline(pipeline_id=pipeline_id)
        transaction.set_rollback(True)
    return forecast_comparable(result)


def forecast_published(pipeline_id: int, *, exclude=()) -> dict:
    """Everything a forecast refresh may have published: the rows of forecasting's models and
    the cached forecast (but the models labelled in `exclude`). Equal before and after a failed
    refresh means nothing leaked."""
    from django.apps import apps
    from django.core.cache import cache

    rows = {}
    for model in apps.get_app_config("forecasting").get_models():
        if model._meta.label not in exclude:
            rows[model._meta.label] = sorted(map(repr, model.objects.values_list()))
    return {"rows": rows, "cache": cache.get(f"forecast:pipeline:{pipeline_id}")}


def broker_discard_unacked(queue: str) -> int:
    """Forget messages of `queue` that a killed worker took but never acknowledged.

    The Redis transport keeps them aside and hands them to a worker again after its visibility
    timeout (an hour): right for production, but in a later test session such a message would
    run unasked for. Only the suite's own queue is touched."""
    import json

    import redis

    from config.celery import app

    client = redis.Redis.from_url(app.conf.broker_url)
    removed = 0
    for tag, raw in client.hgetall("unacked").items():
        try:
            _, exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if queue in (exchange, routing_key):
            client.pipeline().zrem("unacked_index", tag).hdel("unacked", tag).execute()
            removed += 1
    return removed
