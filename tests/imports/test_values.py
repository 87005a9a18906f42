"""The value-mapping step's proposals and the detection of a file's formats, with their evidence."""
import pytest

from imports.services import CellError, amount_parse, date_parse
from imports.values import (
    country_propose, date_order_detect, decimal_separator_detect, evidence_text, stage_propose, status_word,
    username_for,
)


def test_the_date_order_is_detected_from_a_value_that_reads_only_one_way():
    guess = date_order_detect(["3/1/2025", "2/13/2025", "12/12/2025"])
    assert (guess.choice, guess.ambiguous) == ("mdy", 2)
    assert evidence_text("date_order", guess)[0] == "“2/13/2025” can only be month/day/year (02/13/2025)."
    assert date_order_detect(["13/02/2025"]).choice == "dmy"
    assert date_order_detect(["2025-02-13", "2025-03-01"]).choice == "ymd"


def test_a_file_that_writes_dates_both_ways_proposes_no_order_and_says_so():
    guess = date_order_detect(["13/02/2025", "02/13/2025"])
    assert guess.choice == "" and guess.conflict
    assert any("both ways" in line for line in evidence_text("date_order", guess))
    # Only ambiguous values: nothing to go by, the uploader must say.
    assert date_order_detect(["3/1/2025", "4/2/2025"]).choice == ""


def test_the_decimal_separator_is_detected_with_evidence():
    assert decimal_separator_detect(["1.234,56", "7.890"]).choice == ","
    assert decimal_separator_detect(["1,234.56", "99.5"]).choice == "."
    assert decimal_separator_detect(["100", "2500"]).choice == "."  # whole numbers read the same either way
    assert decimal_separator_detect(["1.234", "2.500"]).choice == ""  # thousands or decimals: the uploader says


def test_under_the_confirmed_date_order_a_date_is_read_one_way_and_a_contradiction_is_a_problem():
    assert str(date_parse("3/1/2017", order="mdy")) == "2017-03-01"
    assert str(date_parse("3/1/2017", order="dmy")) == "2017-01-03"
    assert str(date_parse("2017-03-01", order="dmy")) == "2017-03-01"  # year first reads one way only
    with pytest.raises(CellError, match="is not a date in the order you confirmed"):
        date_parse("13/1/2017", order="mdy")
    with pytest.raises(CellError, match="is not a date in the order you confirmed"):
        date_parse("31/31/2017", order="dmy")
    # Without a confirmed order an ambiguous date is refused, as before.
    with pytest.raises(CellError, match="could be a date in two ways"):
        date_parse("3/1/2017")


def test_the_silent_thousands_case_7890_in_a_file_of_decimal_commas():
    """"7.890" among "1.234,56" is seven thousand eight hundred and ninety, never 7.89."""
    assert str(amount_parse("7.890", decimal_separator=",", confirmed=True)) == "7890.00"
    assert str(amount_parse("1.234,56", decimal_separator=",", confirmed=True)) == "1234.56"
    # A value that does not fit the confirmed separator is a problem, not a guess.
    with pytest.raises(CellError, match="cannot be read with the decimal comma you confirmed"):
        amount_parse("7.89", decimal_separator=",", confirmed=True)
    # In a column that writes decimals both ways, "7.890" reads two ways even under a confirmed format.
    with pytest.raises(CellError, match="reads two ways"):
        amount_parse("7.890", decimal_separator=",", mixed=True, confirmed=True)


@pytest.mark.parametrize("text, code", [
    ("Germany", "DE"), ("Deutschland", "DE"), ("DEU", "DE"), ("de", "DE"), ("United States", "US"),
    ("USA", "US"), ("Österreich", "AT"), ("UK", "GB"), ("Switzerland", "CH"), ("Schweiz", "CH"),
    ("Atlantis", "none"),
])
def test_countries_by_name_or_code_are_proposed_as_iso_codes(text, code):
    assert country_propose(text) == code


def test_stage_values_are_proposed_by_name_and_won_or_lost(pipeline, stages):
    ordered = list(pipeline.stages.order_by("position"))
    assert stage_propose("Closed Won", ordered) == "won"
    assert stage_propose("Verloren", ordered) == "lost"
    assert stage_propose("prospect", ordered) == f"stage:{stages['Prospecting'].pk}"
    assert stage_propose("Negotiation/Review", ordered) == f"stage:{stages['Negotiation'].pk}"
    assert stage_propose("Something else", ordered) == f"stage:{stages['Prospecting'].pk}"
    assert (status_word("Closed Lost"), status_word("gewonnen"), status_word("maybe")) == ("lost", "won", "")


def test_usernames_for_new_owners_are_valid_and_unique():
    taken = {"anna.schmidt"}
    assert username_for("Anna Schmidt", taken) == "anna.schmidt2"
    assert username_for("Jürgen Müller-Lüdenscheidt", taken) == "jurgen.muller.ludenscheidt"
    assert username_for("carla@example.com", taken) == "carla"
    assert username_for("   ", taken) == "user"
