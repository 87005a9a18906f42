"""search.query: what typed text means, and the trigram similarity SQLite's ranking uses."""
import pytest

from search.query import MAX_LENGTH, clean_text, parse, similarity


@pytest.mark.parametrize("typed, digits, national", [
    ("+49 30 1234567", "49301234567", "301234567"),
    ("0049 30 1234567", "0049301234567", "301234567"),
    ("+49 (0)30 1234567", "490301234567", "301234567"),
    ("030 1234567", "0301234567", "301234567"),
    ("(030) 1234-567", "0301234567", "301234567"),
    ("+1 212 555 0100", "12125550100", "2125550100"),  # one-digit country codes: 1 and 7
    ("+7 495 123 45 67", "74951234567", "4951234567"),
    ("+41 44 668 18 00", "41446681800", "446681800"),
    ("+353 1 234 5678", "35312345678", "12345678"),  # three digits for codes not in the two-digit list
    ("1234 567", "1234567", ""),  # no prefix: the digits as they are
    ("030", "030", ""),  # "30" is too short to look for on its own
    ("12", "", ""),  # too few digits for a number
])
def test_phone_numbers_are_read_by_their_digits(typed, digits, national):
    query = parse(typed)
    assert (query.digits, query.national) == (digits, national)


@pytest.mark.parametrize("typed", ["Anna Kellner", "anna@zandor.de", "2024 renewal", "A-1 Fenster"])
def test_text_with_letters_or_words_is_not_a_phone_number(typed):
    assert parse(typed).digits == ""


@pytest.mark.parametrize("typed, email, domain", [
    ("Anna@Zandor.DE", "anna@zandor.de", "zandor.de"),
    ("https://www.zandor.de/kontakt", "https://www.zandor.de/kontakt", "zandor.de"),
    ("zandor", "zandor", "zandor"),
    ("anna kellner", "", ""),  # addresses and domains have no spaces
])
def test_text_that_could_be_an_address_or_a_domain(typed, email, domain):
    query = parse(typed)
    assert (query.email, query.domain) == (email, domain)


def test_text_is_cleaned_and_cut():
    assert clean_text("  Anna\t\tKellner\r\n") == "Anna Kellner"
    assert clean_text("Kell\x00ner") == "Kell ner"
    assert clean_text(None) == ""
    assert len(clean_text("x" * 10_000)) == MAX_LENGTH
    assert parse("  k ").is_usable is False and parse("ab").is_usable is True
    assert parse("Anna  Kellner").words == ("Anna", "Kellner")


def test_similarity_is_pg_trgm_similarity():
    # The values PostgreSQL's pg_trgm documentation gives, and its behaviour for case and words.
    assert similarity("word", "two words") == pytest.approx(0.363636, abs=1e-6)
    assert similarity("Kellner", "kellner") == 1.0
    assert similarity("Anna Kellner", "Kellner Anna") == 1.0
    assert similarity("Kellner", "Zandor") == 0.0
    assert similarity("", "Kellner") == 0.0
    assert similarity("Morgenstern", "morgenst") > similarity("Morgenstern Bau", "morgenst")
