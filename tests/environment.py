"""Loaded by pytest before Django starts (see pyproject's addopts): a test-only secret key.

Tests run with DEBUG off, as production does; everything else comes from the environment,
so `DATABASE_URL` and `REDIS_URL` switch the suite to real services.
"""
import os

os.environ.setdefault("SECRET_KEY", "stageflow-test-suite-only")
os.environ["DEBUG"] = "0"
# Plain HTTP in tests: the test client and the live server do not speak TLS.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
# Real services stay shared with development: the suite keeps to its own cache keys and queue.
os.environ.setdefault("CACHE_KEY_PREFIX", "stageflow-test")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", "stageflow-test")
# Unit tests run tasks in-process even with REDIS_URL set; tests/integration/ start real workers.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
# The API's rate limit counts requests per user or token in the cache, which outlives a test (and,
# on Redis, a run); ids repeat between tests. Tests of the limit set their own rate.
os.environ.setdefault("API_RATE_LIMIT", "1000000/hour")
# Mailbox secrets are encrypted with this key in tests (production sets its own; see mail.crypto).
os.environ.setdefault("STAGEFLOW_MAIL_KEY", "1Ws0iZKi2mWq4rK6M3kVj2dKzq3Xz8d1rXw3bq9fV0s=")
