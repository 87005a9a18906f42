"""PostgreSQL only (the CI's services run; `DATABASE_URL=postgres://… pytest tests/search`): the
trigram indexes of search/migrations/0001 exist and serve every search query, and a name with a
typo is found."""
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from search import selectors
from search.selectors import PEOPLE, search
from tests.services import postgres_missing_reason

from .conftest import deal, organization, person

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

INDEXES = {
    "search_person_name_trgm", "search_personemail_address_trgm", "search_personphone_digits_trgm",
    "search_organization_name_trgm", "search_organization_domains_trgm", "search_deal_title_trgm",
}


@pytest.fixture(autouse=True)
def _postgresql():
    reason = postgres_missing_reason()
    if reason:
        pytest.skip(reason)


def test_the_migration_made_the_trigram_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'search_%%'")
        found = dict(cursor.fetchall())
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == (1,)
    assert set(found) == INDEXES
    assert all("USING gin" in definition and "gin_trgm_ops" in definition for definition in found.values())


def test_the_planner_knows_what_comparing_by_likeness_costs():
    """Else it compares every name of a few thousand rather than use the index (the migration says why)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT procost FROM pg_proc WHERE proname = 'word_similarity_commutator_op'")
        assert cursor.fetchone() == (100,)


def test_every_search_query_can_use_the_trigram_indexes(teams):
    """With the tables empty the planner would scan them whatever the indexes; forbidding the
    scans shows whether each query can be answered from its index at all."""
    rita = teams["rita"]
    zandor = organization("Zandor GmbH", owner=rita, domains="zandor.de")
    person("Anna Kellner", owner=rita, at=zandor, emails=["anna@zandor.de"], phones=["+49 30 1234567"])
    deal("Zandor rollout", owner=rita, at=zandor)
    statements = []
    for text in ("kellner", "zandor.de", "+49 30 123"):
        for who in ("rita", "ada"):
            with CaptureQueriesContext(connection) as captured:
                search(teams[who], text)
            statements += [query["sql"] for query in captured]
    used = set()
    with transaction.atomic(), connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):  # bitmap scans remain: what a trigram index does
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        for sql in statements:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            used |= {index for index in INDEXES if index in plan}
    assert INDEXES - used == set()


def test_a_name_with_a_typo_is_found_after_the_right_ones(teams):
    rita = teams["rita"]
    zandor = organization("Zandor GmbH", owner=rita)
    person("Anna Kellner", owner=rita, at=zandor)
    person("Kelner Bernd", owner=rita, at=zandor)  # the typo is his real name
    hits = search(rita, "Kelner").kinds[PEOPLE].hits
    assert [(hit.obj.name, hit.tier) for hit in hits] == [
        ("Kelner Bernd", selectors.PREFIX), ("Anna Kellner", selectors.OTHER),
    ]
    assert [h.obj.name for h in search(rita, "Ana Kelner").kinds[PEOPLE].hits][0] == "Anna Kellner"  # the more alike


def test_short_text_is_not_looked_for_by_likeness(teams):
    rita = teams["rita"]
    acme = organization("Wildcard Testers", owner=rita)
    deal("Plan 500", owner=rita, at=acme)
    assert search(rita, "50X").kinds["deals"].hits == []  # "50X" is not like "500" at three letters


@pytest.mark.parametrize("a, b", [
    ("Anna Kellner", "kellner"), ("Müller Logistik GmbH", "müller"), ("O'Brien & Söhne", "obrien"),
    ("Zandor-Group", "zandor group"), ("anna.kellner@zandor.de", "kellner"), ("+49 30 1234567", "1234"),
])
def test_the_ranking_on_sqlite_uses_the_same_similarity_as_postgresql(a, b):
    from search.query import similarity

    with connection.cursor() as cursor:
        cursor.execute("SELECT similarity(%s, %s)", [a, b])
        assert cursor.fetchone()[0] == pytest.approx(similarity(a, b), abs=1e-6)
