"""search.selectors.search: what it finds by each field, in which order, for whom, and in how many
queries. Runs on SQLite and (DATABASE_URL) PostgreSQL alike: the ranking is the same on both."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline.models import DealStatus, Person
from search import selectors
from search.presenters import results_json
from search.selectors import DEALS, ORGANIZATIONS, PEOPLE, search
from tests.factories import lost_reason

from .conftest import deal, organization, person

pytestmark = pytest.mark.django_db


def names(results, kind) -> list[str]:
    return [getattr(hit.obj, "title", None) or hit.obj.name for hit in results.kinds[kind].hits]


@pytest.fixture
def book(teams):
    """Rita's (North) and Olga's (South) organisations, people and deals."""
    rita, olga = teams["rita"], teams["olga"]
    zandor = organization("Zandor GmbH", owner=rita, domains="zandor.de zandor-group.com", city="Berlin")
    quill = organization("Quillfeather AG", owner=olga, domains="quillfeather.ch")
    people = {
        "exact": person("Kellner", owner=rita, at=zandor),
        "prefix": person("Kellnerova Petra", owner=rita, at=zandor),
        "word": person("Anna Kellner", owner=rita, at=zandor, job_title="Head of purchasing"),
        "email_prefix": person("Bruno Weiss", owner=rita, at=zandor, emails=["kellner@zandor.de"]),
        "email_contains": person(
            "Carla Schmitt", owner=rita, at=zandor, emails=["carla@zandor.de", "c.kellner@mail.test"],
        ),
        "name_contains": person("Eva Oberkellner", owner=rita, at=zandor),
        "phone": person("Frieda Nagel", owner=rita, at=zandor, phones=["+49 30 1234567"]),
        "south": person(
            "Kellner Süd", owner=olga, at=quill, emails=["kellner@quillfeather.ch"], phones=["+41 44 1234567"],
        ),
    }
    deals = {
        "open": deal("Kellner rollout", owner=rita, at=zandor),
        "lost": deal("Kellner renewal", owner=rita, at=zandor, status=DealStatus.LOST, lost_reason=lost_reason(),
                     closed_at=timezone.now()),
        "south": deal("Kellner south expansion", owner=olga, at=quill),
    }
    return {"zandor": zandor, "quill": quill, "people": people, "deals": deals}


# --- Ranking ----------------------------------------------------------------------------------------


def test_people_rank_exact_name_then_prefix_then_word_then_contacts_then_contains(book, teams):
    results = search(teams["rita"], "Kellner")
    assert names(results, PEOPLE) == [
        "Kellner",  # the name is the text
        "Kellnerova Petra",  # starts with it
        "Anna Kellner",  # a word starts with it
        "Bruno Weiss",  # an e-mail address starts with it
        "Eva Oberkellner",  # the name contains it: more alike than…
        "Carla Schmitt",  # …a person one of whose e-mail addresses contains it
    ]
    tiers = [hit.tier for hit in results.kinds[PEOPLE].hits]
    assert tiers == [
        selectors.EXACT, selectors.PREFIX, selectors.WORDS, selectors.CONTACT_PREFIX, selectors.CONTAINS, selectors.CONTAINS,
    ]


def test_people_say_what_matched(book, teams):
    hits = {hit.obj.name: hit for hit in search(teams["rita"], "kellner").kinds[PEOPLE].hits}
    assert (hits["Anna Kellner"].match, hits["Anna Kellner"].matched) == ("name", "")
    assert (hits["Bruno Weiss"].match, hits["Bruno Weiss"].matched) == ("email", "kellner@zandor.de")
    assert (hits["Carla Schmitt"].match, hits["Carla Schmitt"].matched) == ("email", "c.kellner@mail.test")
    assert hits["Eva Oberkellner"].match == "name"


def test_every_word_starting_a_word_of_the_name_ranks_before_a_contact(book, teams):
    person("Kellner Anna-Lena", owner=teams["rita"], at=book["zandor"])
    results = search(teams["rita"], "anna kellner")
    assert names(results, PEOPLE)[:2] == ["Anna Kellner", "Kellner Anna-Lena"]
    assert [hit.tier for hit in results.kinds[PEOPLE].hits[:2]] == [selectors.EXACT, selectors.WORDS]


def test_an_exact_email_address_ranks_before_names_that_only_contain_the_text(book, teams):
    person("Kellner@zandor.de Fan Club", owner=teams["rita"], at=book["zandor"])  # real data has names like it
    results = search(teams["rita"], "KELLNER@zandor.de")
    assert names(results, PEOPLE)[:1] == ["Kellner@zandor.de Fan Club"]  # the name starts with it: tier 1
    assert names(results, PEOPLE)[1] == "Bruno Weiss"
    assert results.kinds[PEOPLE].hits[1].tier == selectors.CONTACT_EXACT


def test_deals_rank_open_before_closed_within_a_tier(book, teams):
    assert names(search(teams["rita"], "kellner r"), DEALS) == ["Kellner rollout", "Kellner renewal"]


def test_within_a_tier_closer_names_come_first(teams):
    rita = teams["rita"]
    for name in ("Morgenstern Logistik und Spedition GmbH", "Morgenstern", "Morgenstern Bau"):
        organization(name, owner=rita)
    assert names(search(rita, "morgenst"), ORGANIZATIONS) == [
        "Morgenstern", "Morgenstern Bau", "Morgenstern Logistik und Spedition GmbH",
    ]


# --- Each field --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", [
        "+49 30 1234567", "0049 30 1234567", "030 1234567", "030/123 45 67", "(030) 1234-567", "+493012345 67",
        "+49 (0)30 1234567", "+49 (0) 30 123 45 67",
    ],
)
def test_a_phone_number_is_found_by_its_digits_however_it_is_written(book, teams, typed):
    hits = search(teams["rita"], typed).kinds[PEOPLE].hits
    assert [(hit.obj.name, hit.tier, hit.match, hit.matched) for hit in hits] == [
        ("Frieda Nagel", selectors.CONTACT_EXACT, "phone", "+49 30 1234567"),
    ]


@pytest.mark.parametrize("typed", ["+49 30 7654321", "030 7654321", "0049 (0)30 76 54 321"])
def test_a_number_stored_with_a_trunk_prefix_after_the_country_code_is_found(book, teams, typed):
    person("Gisela Ort", owner=teams["rita"], phones=["+49 (0)30 7654321"])  # as German e-mail signatures write it
    hits = search(teams["rita"], typed).kinds[PEOPLE].hits
    assert [(hit.obj.name, hit.tier, hit.matched) for hit in hits] == [
        ("Gisela Ort", selectors.CONTACT_EXACT, "+49 (0)30 7654321"),
    ]


def test_the_start_or_a_part_of_a_phone_number_finds_it(book, teams):
    assert [(h.obj.name, h.tier) for h in search(teams["rita"], "+49 30 123").kinds[PEOPLE].hits] == [
        ("Frieda Nagel", selectors.CONTACT_PREFIX),
    ]
    assert [(h.obj.name, h.tier) for h in search(teams["rita"], "1234 567").kinds[PEOPLE].hits] == [
        ("Frieda Nagel", selectors.CONTAINS),
    ]


def test_a_few_digits_are_not_a_phone_number(book, teams):
    person("Agent Smith", owner=teams["rita"], phones=["+1 555 0070"])
    assert names(search(teams["rita"], "07"), PEOPLE) == []  # two digits could be anyone's
    assert names(search(teams["rita"], "007"), PEOPLE) == ["Agent Smith"]


def test_an_email_address_finds_the_person_and_its_domain_the_organisation(book, teams):
    results = search(teams["rita"], "kellner@zandor.de")
    assert names(results, PEOPLE) == ["Bruno Weiss"]
    assert [(h.obj.name, h.match, h.matched) for h in results.kinds[ORGANIZATIONS].hits] == [
        ("Zandor GmbH", "domain", "zandor.de"),
    ]


@pytest.mark.parametrize("typed", ["zandor-group.com", "https://www.zandor-group.com/kontakt", "ZANDOR-GROUP.COM"])
def test_an_organisation_is_found_by_any_of_its_domains(book, teams, typed):
    hits = search(teams["rita"], typed).kinds[ORGANIZATIONS].hits
    assert [(h.obj.name, h.tier, h.match, h.matched) for h in hits] == [
        ("Zandor GmbH", selectors.CONTACT_EXACT, "domain", "zandor-group.com"),
    ]


def test_the_start_of_a_domain_finds_the_organisation(book, teams):
    hits = search(teams["rita"], "zandor-gr").kinds[ORGANIZATIONS].hits
    assert [(h.obj.name, h.tier, h.matched) for h in hits] == [
        ("Zandor GmbH", selectors.CONTACT_PREFIX, "zandor-group.com"),
    ]


def test_deals_are_found_by_title_and_organisations_by_name(book, teams):
    results = search(teams["rita"], "zandor")
    assert names(results, ORGANIZATIONS) == ["Zandor GmbH"]
    assert results.kinds[ORGANIZATIONS].hits[0].tier == selectors.PREFIX
    assert names(search(teams["rita"], "rollout"), DEALS) == ["Kellner rollout"]


def test_erased_people_are_not_found(book, teams):
    Person.objects.filter(pk=book["people"]["word"].pk).update(erased_at=timezone.now())
    assert "Anna Kellner" not in names(search(teams["rita"], "kellner"), PEOPLE)


def test_limits_per_kind_and_says_when_there_are_more(teams):
    rita = teams["rita"]
    acme = organization("Vendelbo Holding", owner=rita)
    for i in range(7):
        person(f"Vendelbo Person {i}", owner=rita, at=acme)
    results = search(rita, "vendelbo", limit=5)
    assert len(results.kinds[PEOPLE].hits) == 5 and results.kinds[PEOPLE].more
    assert len(results.kinds[ORGANIZATIONS].hits) == 1 and not results.kinds[ORGANIZATIONS].more
    everyone = search(rita, "vendelbo", kinds=(PEOPLE,), limit=selectors.KIND_LIMIT)
    assert list(everyone.kinds) == [PEOPLE]
    assert len(everyone.kinds[PEOPLE].hits) == 7 and not everyone.kinds[PEOPLE].more


# --- Visibility ---------------------------------------------------------------------------------------


def test_a_rep_does_not_find_another_teams_people_organisations_or_deals(book, teams):
    texts = ("kellner", "Kellner Süd", "kellner@quillfeather.ch", "+41 44 1234567", "quillfeather", "quillfeather.ch")
    for text in texts:
        results = search(teams["rita"], text)
        found = {name for kind in (DEALS, ORGANIZATIONS, PEOPLE) for name in names(results, kind)}
        assert not found & {"Kellner Süd", "Quillfeather AG", "Kellner south expansion"}, text
    assert names(search(teams["olga"], "kellner"), PEOPLE) == ["Kellner Süd"]
    assert names(search(teams["olga"], "kellner"), DEALS) == ["Kellner south expansion"]


def test_managers_find_their_teams_and_admins_everything(book, teams):
    assert "Kellner Süd" not in names(search(teams["max"], "kellner"), PEOPLE)
    assert "Kellner rollout" in names(search(teams["max"], "kellner"), DEALS)
    assert names(search(teams["sam"], "kellner"), PEOPLE) == ["Kellner Süd"]
    admin = search(teams["ada"], "kellner")
    assert "Kellner Süd" in names(admin, PEOPLE) and "Kellner south expansion" in names(admin, DEALS)


def test_a_shared_address_book_shares_people_and_organisations_but_not_deals(book, teams, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "SHARED_ADDRESS_BOOK": True}
    results = search(teams["rita"], "kellner")
    assert "Kellner Süd" in names(results, PEOPLE)
    assert "Kellner south expansion" not in names(results, DEALS)
    assert names(search(teams["rita"], "quillfeather.ch"), ORGANIZATIONS) == ["Quillfeather AG"]


def test_a_deactivated_user_finds_nothing(book, teams):
    rita = teams["rita"]
    rita.is_active = False
    rita.save()
    assert search(rita, "kellner").is_empty


# --- Bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "k", " k ", None, "\x00"])
def test_too_little_text_finds_nothing_without_asking_the_database(book, teams, text, django_assert_num_queries):
    with django_assert_num_queries(0):
        results = search(teams["rita"], text)
    assert results.is_empty and not results.query.is_usable


@pytest.mark.parametrize("text", [
    "'; DROP TABLE pipeline_person; --", "' OR '1'='1", "%%", "__", "\\", "Kell\x00ner", "Kellner\r\n\t",
    "x" * 10_000, "ÄÖÜ ß ❤ 🙂", "a" * 99 + "🙂",
])
def test_any_text_is_searched_as_text(book, teams, text):
    results = search(teams["rita"], text)
    assert len(results.query.text) <= 100
    assert "\x00" not in results.query.text
    if text.startswith("Kellner\r"):
        assert "Kellner" in names(results, PEOPLE)
    if text in ("%%", "__", "'; DROP TABLE pipeline_person; --", "' OR '1'='1"):
        assert results.is_empty
    assert Person.objects.filter(name="Kellner").exists()


def test_like_wildcards_match_only_themselves(teams):
    rita = teams["rita"]
    acme = organization("Wildcard Testers", owner=rita)
    deal("Discount 50% off", owner=rita, at=acme)
    deal("Discount 500 off", owner=rita, at=acme)
    deal("Plan a_b", owner=rita, at=acme)
    deal("Plan axb", owner=rita, at=acme)

    def matching(text):  # PostgreSQL also finds titles like the text, in the last tier
        return [hit.obj.title for hit in search(rita, text).kinds[DEALS].hits if hit.tier < selectors.OTHER]

    assert matching("50%") == ["Discount 50% off"]
    assert matching("a_b") == ["Plan a_b"]


# --- Queries ----------------------------------------------------------------------------------------------


def _search_and_show(user, text):
    """The search and everything its JSON shows (the page shows the same)."""
    results = search(user, text)
    results_json(results)
    return results


def _queries_for(results) -> int:
    """One per kind, and one for the organisations of the deals and of the people found."""
    return 3 + sum(1 for kind in (DEALS, PEOPLE) if results.kinds[kind].hits)


@pytest.mark.parametrize("who", ["rita", "max", "ada"])
@pytest.mark.parametrize("text", ["kellner", "anna kellner", "kellner@zandor.de", "+49 30 1234567", "zandor.de"])
def test_the_same_few_queries_whatever_the_data(book, teams, who, text):
    with CaptureQueriesContext(connection) as captured:
        small = _search_and_show(teams[who], text)
    assert len(captured) == _queries_for(small)
    zandor = book["zandor"]
    for i in range(20):
        person(f"Kellner {i}", owner=teams["rita"], at=zandor, emails=[f"kellner{i}@zandor.de", f"k{i}@mail.test"],
               phones=[f"+49 30 1234{i:03d}"])
        deal(f"Kellner deal {i}", owner=teams["rita"], at=zandor)
    for i in range(10):
        organization(f"Kellner Holding {i}", owner=teams["olga"], domains=f"kellner{i}.de zandor{i}.de")
    with CaptureQueriesContext(connection) as captured:
        large = _search_and_show(teams[who], text)
    assert len(captured) == _queries_for(large) <= 5
    assert sum(len(f.hits) for f in large.kinds.values()) >= sum(len(f.hits) for f in small.kinds.values())


def test_one_kind_is_one_query_and_one_for_the_organisations(book, teams, django_assert_num_queries):
    with django_assert_num_queries(2):
        results_json(search(teams["rita"], "kellner", kinds=(PEOPLE,), limit=selectors.KIND_LIMIT))
    with django_assert_num_queries(1):
        results_json(search(teams["rita"], "zandor", kinds=(ORGANIZATIONS,), limit=selectors.KIND_LIMIT))
