"""Database session settings that the measured query plans depend on."""
import pytest
from django.db import connection

from tests.services import postgres_missing_reason

pytestmark = pytest.mark.django_db


@pytest.mark.integration
def test_postgresql_sessions_do_not_jit_compile_queries():
    """JIT compilation cost the board about 1 s per request at 100,000 deals (bench/results/plans.md)."""
    reason = postgres_missing_reason()
    if reason:
        pytest.skip(reason)
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
