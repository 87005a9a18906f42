"""import_history: the sample files, bad rows with their line numbers, all or nothing."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from forecasting.importing import ImportFailed, import_history
from pipeline.models import Deal, DealChange, Organization, StageChange

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "forecasting" / "samples"
DEALS_HEADER = "external_id,title,lead,owner,amount,currency,created_at,expected_close,status,closed_at,lost_reason\n"
EVENTS_HEADER = "external_id,at,field,old,new\n"


def write(tmp_path, deals: str, events: str = ""):
    d, e = tmp_path / "deals.csv", tmp_path / "events.csv"
    d.write_text(DEALS_HEADER + deals, encoding="utf-8")
    e.write_text(EVENTS_HEADER + events, encoding="utf-8")
    return d, e


def test_the_sample_files_import_with_their_history(pipeline):
    result = import_history(SAMPLES / "history-deals.csv", SAMPLES / "history-events.csv")
    assert (result.deals, result.users_created) == (3, ["anna", "ben"])
    won, lost, open_ = (Deal.objects.get(external_id=e) for e in ("EXT-1001", "EXT-1002", "EXT-1003"))
    assert (won.status, won.stage.name, won.amount) == ("won", "Retention", Decimal("24000.00"))
    assert won.closed_at.isoformat() == "2025-04-11T15:20:00+00:00"
    assert (lost.status, lost.stage.name, lost.lost_reason.name) == ("lost", "Meeting & demo", "Competitor")
    assert (open_.status, open_.stage.name, open_.expected_close) == ("open", "Qualification", date(2025, 6, 30))
    assert list(StageChange.objects.filter(deal=won).values_list("to_stage__name", flat=True)) == [
        "Prospecting",
        "Qualification",
        "Meeting & demo",
        "Offer",
        "Negotiation",
        "Retention",
    ]
    assert StageChange.objects.filter(deal=lost).last().to_status == "lost"
    assert list(DealChange.objects.filter(deal=won).values_list("field", "old_value", "new_value")) == [
        ("amount", "20000.00", "24000.00"),
        ("expected_close", "2025-03-31", "2025-04-30"),
    ]
    anna = User.objects.get(username="anna")
    assert anna.role == "rep" and not anna.has_usable_password()
    # The "lead" column names the organisation; the one with a won deal is a customer since its win.
    assert won.organization.name == "Nordlicht Logistik GmbH" and won.organization.customer_since == date(2025, 4, 11)
    assert lost.organization.customer_since is None


def test_bad_rows_are_reported_with_line_numbers_and_nothing_stays(tmp_path, pipeline):
    deals, events = write(
        tmp_path,
        "X1,Good deal,Acme,anna,100,EUR,2025-01-01,2025-02-01,open,,\n"
        "X2,,Acme,anna,abc,EURO,2025-13-01,,maybe,,\n"
        "X1,Twice,Acme,anna,100,EUR,2025-01-01,,open,,\n"
        "X3,Lost without reason,Acme,ben,100,EUR,2025-01-01,,lost,2025-01-05,\n",
        "X1,2025-01-01T10:00:00Z,stage,,Prospecting\n"
        "X1,2025-01-02T10:00:00Z,stage,Qualification,Offer\n"
        "X9,2025-01-02T10:00:00Z,stage,,Prospecting\n"
        "X1,2025-01-03T10:00:00Z,colour,,red\n"
        "X1,yesterday,amount,1,2\n"
        "X1,2024-12-01T10:00:00Z,amount,50,100\n",
    )
    with pytest.raises(ImportFailed) as failed:
        import_history(deals, events)
    errors = failed.value.errors
    expected = [
        "deals.csv line 3: title is empty",
        "deals.csv line 3: “abc” is not an amount.",
        "deals.csv line 3: “EURO” is not a currency code such as EUR.",
        "deals.csv line 3: created_at “2025-13-01” is not an ISO date",
        "deals.csv line 3: status “maybe” is not open, won or lost",
        "deals.csv line 4: external_id X1 appears twice (first on line 2)",
        "deals.csv line 5: a lost deal needs a lost_reason",
        "events.csv line 4: no deal with external_id “X9” in deals.csv",
        "events.csv line 5: field “colour” is not stage, amount or expected_close",
        "events.csv line 6: at “yesterday” is not an ISO date and time",
        "events.csv line 7: the event lies before the deal was created",
        "events.csv line 3: old stage “Qualification” does not match the stage before, “Prospecting”",
    ]
    assert errors == expected
    assert (
        not Deal.objects.exists()
        and not StageChange.objects.exists()
        and not User.objects.filter(username="anna").exists()
    )


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, pipeline, monkeypatch):
    deals, events = write(
        tmp_path, "Y1,Deal,Acme,newrep,100,EUR,2025-01-01,,open,,\n", "Y1,2025-01-01T10:00:00Z,stage,,Prospecting\n"
    )
    from pipeline import events as pipeline_events

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline_events, "deal_changes_bulk_record", broken)
    with pytest.raises(RuntimeError):
        import_history(deals, events)
    assert (
        not Deal.objects.exists() and not Organization.objects.exists() and not User.objects.filter(username="newrep").exists()
    )


def test_history_must_agree_with_the_deal_row(tmp_path, pipeline):
    deals, events = write(
        tmp_path,
        "Z1,Deal,Acme,anna,100,EUR,2025-01-01,,open,,\n"
        "Z2,Won but not in history,Acme,anna,100,EUR,2025-01-01,2025-02-01,open,,\n",
        "Z1,2025-01-02T10:00:00Z,amount,50,90\nZ2,2025-01-02T10:00:00Z,stage,,Retention\n",
    )
    with pytest.raises(ImportFailed) as failed:
        import_history(deals, events)
    assert failed.value.errors == [
        "events.csv line 2: the last amount change (90) differs from the deal's amount in deals.csv",
        "deals.csv line 3: the stage history ends won but the status is open",
    ]


def test_importing_the_same_deals_twice_is_refused(pipeline):
    import_history(SAMPLES / "history-deals.csv", SAMPLES / "history-events.csv")
    with pytest.raises(ImportFailed) as failed:
        import_history(SAMPLES / "history-deals.csv", SAMPLES / "history-events.csv")
    assert failed.value.errors[0] == "history-deals.csv line 2: a deal with external_id EXT-1001 was already imported"
    assert Deal.objects.count() == 3


def test_the_command_reports_problems_and_fails(tmp_path, pipeline, capsys):
    deals, events = write(tmp_path, "Q1,,Acme,anna,100,EUR,2025-01-01,,open,,\n")
    with pytest.raises(CommandError, match="Nothing was imported: 1 problem"):
        call_command("import_history", str(deals), str(events))
    assert "deals.csv line 2: title is empty" in capsys.readouterr().err
    call_command("import_history", str(SAMPLES / "history-deals.csv"), str(SAMPLES / "history-events.csv"))
    assert "Imported 3 deals with 12 stage changes and 3 field changes" in capsys.readouterr().out
