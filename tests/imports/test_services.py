"""Import rules: mapping guesses, value parsing, per-row errors, duplicates, all-or-nothing, owners."""
from datetime import date
from decimal import Decimal
from unittest import mock

import pytest
from django.test import override_settings

from imports import services
from imports.models import ImportStatus
from imports.services import CellError, amount_parse, date_parse, import_commit, import_preview, mapping_guess
from pipeline.exceptions import MoveRefused
from pipeline.models import Deal, Organization, StageChange, Transition
from qualification.models import Criterion, Profile
from tests.factories import OrganizationFactory, TeamFactory, UserFactory
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.django_db


# --- Mapping and values ---------------------------------------------------------------------


def test_mapping_is_guessed_from_english_and_german_headers():
    headers = ["Firma", "E-Mail", "Branche", "Land", "Webseite", "Something else", "Ansprechpartner"]
    assert mapping_guess("organizations", headers) == {
        "name": 0, "contact_email": 1, "industry": 2, "country": 3, "website": 4, "contact_name": 6,
    }
    deal_headers = ["Deal name", "Company", "Value", "Close date", "Stage", "Owner"]
    assert mapping_guess("deals", deal_headers) == {
        "title": 0, "company": 1, "amount": 2, "expected_close": 3, "stage": 4, "owner": 5,
    }


def test_an_exported_board_maps_back_onto_deal_fields():
    from exports.services import DEAL_COLUMNS

    mapping = mapping_guess("deals", [str(c.header) for c in DEAL_COLUMNS])
    assert {"title", "company", "amount", "currency", "stage", "owner", "expected_close", "next_step"} <= set(mapping)


@pytest.mark.parametrize("text, expected", [
    ("1234", Decimal("1234.00")), ("1,234.50", Decimal("1234.50")), ("1.234,50", Decimal("1234.50")),
    ("€ 1 234", Decimal("1234.00")), ("12,5", Decimal("12.50")), ("1,000", Decimal("1000.00")),
    ("1.000.000", Decimal("1000000.00")), ("2500 EUR", Decimal("2500.00")), ("", None),
])
def test_amounts_in_common_notations(text, expected):
    assert amount_parse(text) == expected


@pytest.mark.parametrize("text", ["abc", "12abc", "-5", "1e20", "1,2,3.4.5"])
def test_bad_amounts_are_errors(text):
    with pytest.raises(CellError):
        amount_parse(text)


@pytest.mark.parametrize("text, expected", [
    ("2026-03-04", date(2026, 3, 4)), ("04.03.2026", date(2026, 3, 4)), ("25/12/2026", date(2026, 12, 25)),
    ("12/25/2026", date(2026, 12, 25)), ("2026-03-04 00:00", date(2026, 3, 4)), ("", None),
])
def test_dates_in_common_notations(text, expected):
    assert date_parse(text) == expected


def test_ambiguous_and_bad_dates_are_errors():
    with pytest.raises(CellError, match="two ways"):
        date_parse("03/04/2026")
    with pytest.raises(CellError, match="not a date"):
        date_parse("next Tuesday")
    with pytest.raises(CellError):
        date_parse("31.02.2026")


# --- Leads ------------------------------------------------------------------------------------


def test_organization_rows_with_bad_values_get_one_error_each(make_job, rep):
    job = make_job(rep, csv_bytes(
        "Company,Country,Website,E-Mail,Size,Source",
        "Good AG,DE,good.example,a@good.example,51-200,Event",
        ",DE,,,,",
        "Bad Country,Atlantis,,,,",
        "Bad Mail,DE,,not-an-email,,",
        "Bad Size,DE,,,huge,",
        "Bad Source,DE,,,,carrier pigeon",
        "Bad Site,DE,not a site,,,",
    ))
    preview = import_preview(job)
    errors = {row.line: row.errors for row in preview.rows}
    assert errors[2] == []
    assert errors[3] == ["Company is missing."]
    assert errors[4] == ["Country: “Atlantis” is not a country; use a two-letter code such as DE or a country's name."]
    assert errors[5] == ["Contact e-mail: “not-an-email” is not an e-mail address."]
    assert "is not a company size" in errors[6][0]
    assert "is not a source" in errors[7][0]
    assert "is not a website address" in errors[8][0]
    assert not preview.ok


def test_company_size_accepts_labels_ranges_and_head_counts(make_job, rep):
    job = make_job(rep, csv_bytes("Company,Employees", "A,11–50", "B,35", "C,5000", "D,51-200 employees"))
    sizes = [row.values["company_size"] for row in import_preview(job).rows]
    assert sizes == ["11-50", "11-50", "1000+", "51-200"]


def test_organization_import_creates_organizations_with_fit_scores(make_job, rep):
    profile = Profile.objects.create(name="ICP")
    Criterion.objects.create(profile=profile, attribute="industry", values="Software", weight=1)
    job = make_job(rep, csv_bytes(
        "Company,Industry,Country,Website,Contact,E-Mail,Phone,Size,Source",
        "Alpha GmbH,Software,de,alpha.example,Anna Alt,anna@alpha.example,+49 30 1,51-200,event",
        "Beta AG,Retail,AT,,,,,,",
    ))
    import_commit(job)
    assert job.status == ImportStatus.DONE and job.created_organizations == 2
    alpha = Organization.objects.get(name="Alpha GmbH")
    assert (alpha.country, alpha.website, alpha.source, alpha.company_size, alpha.owner) == (
        "DE", "https://alpha.example", "event", "51-200", rep)
    assert alpha.fit_score == 100 and alpha.fit_explanation["criteria"][0]["matched"]
    assert Organization.objects.get(name="Beta AG").fit_score == 0


def test_duplicates_by_name_and_domain_in_the_database_and_the_file_are_skipped(make_job, rep):
    OrganizationFactory(name="ACME GmbH", website="https://www.acme.example/about")
    job = make_job(rep, csv_bytes(
        "Company,Website",
        "acme   gmbh,",               # same name, other case and spacing
        "Acme Germany,acme.example",  # same domain, www. and path ignored
        "New One,new.example",
        "NEW ONE,",                   # same as line 4 of the file
        "Another,http://WWW.new.example",  # same domain as line 4
        "Fresh,",
    ))
    preview = import_preview(job)
    dup = {row.line: row.duplicate for row in preview.rows}
    assert "same company name" in dup[2] and "ACME GmbH" in dup[2]
    assert "same website domain" in dup[3]
    assert dup[4] == ""
    assert dup[5] == "Same company as line 4 of this file."
    assert dup[6] == "Same company as line 4 of this file."
    assert dup[7] == ""
    assert preview.ok and preview.importable == 2 and preview.skipped == 4
    import_commit(job)
    assert job.created_organizations == 2 and job.skipped_rows == 4
    assert Organization.objects.filter(name__in=["New One", "Fresh"]).count() == 2
    assert not Organization.objects.filter(name__in=["NEW ONE", "Another", "acme   gmbh"]).exists()


def test_one_bad_row_means_nothing_is_imported(make_job, rep):
    before = Organization.objects.count()
    job = make_job(rep, csv_bytes("Company,Country", "One,DE", "Two,DE", "Three,XYZ", "Four,DE"))
    import_commit(job)
    assert job.status == ImportStatus.FAILED
    assert job.errors == [{"line": 4, "cells": ["Three", "XYZ"],
                           "errors": ["Country: “XYZ” is not a country; use a two-letter code such as DE or a country's name."]}]
    assert "Nothing was imported" in job.message
    assert Organization.objects.count() == before


def test_a_rep_cannot_give_leads_to_someone_else(make_job, rep, manager):
    job = make_job(rep, csv_bytes("Company,Owner", "Mine,rita", "For boss,max", "Ghost,nobody@example.com"))
    errors = {row.line: row.errors for row in import_preview(job).rows}
    assert errors[2] == []
    assert errors[3] == ["Owner: You cannot give leads to “max”; only to " + str(rep) + "."]
    assert errors[4] == ["Owner: There is no user “nobody@example.com”; use a username or e-mail address."]


# --- Deals ------------------------------------------------------------------------------------


DEALS_HEADER = "Title,Company,Amount,Currency,Close date,Stage,Owner,Website,Contact,E-Mail"


def test_deal_import_creates_deals_through_the_service_with_history(make_job, manager, rep, pipeline, stages):
    job = make_job(manager, csv_bytes(
        DEALS_HEADER,
        "Website relaunch,Alpha GmbH,\"12.500,00\",EUR,2026-12-31,Offer,rita,alpha.example,Anna,anna@alpha.example",
        "Support contract,Alpha GmbH,3000,usd,,Prospecting,,,,",
        "Pilot,Beta AG,,,,,max,,,",
    ), kind="deals", pipeline=pipeline)
    preview = import_preview(job)
    assert preview.ok, [r.errors for r in preview.rows]
    import_commit(job)
    assert job.status == ImportStatus.DONE and (job.created_deals, job.created_organizations) == (3, 2)
    relaunch = Deal.objects.get(title="Website relaunch")
    assert (relaunch.amount, relaunch.currency, relaunch.expected_close, relaunch.stage, relaunch.owner) == (
        Decimal("12500.00"), "EUR", date(2026, 12, 31), stages["Offer"], rep)
    support = Deal.objects.get(title="Support contract")
    assert support.organization == relaunch.organization  # the same company in the file: one new lead
    assert support.currency == "USD" and support.owner == manager
    assert Deal.objects.get(title="Pilot").stage == stages["Prospecting"]  # no stage: the first
    assert StageChange.objects.filter(deal__in=[relaunch, support], from_stage=None, actor=manager).count() == 2
    assert relaunch.organization.owner == rep and relaunch.organization.website == "https://alpha.example"


def test_a_thousands_point_is_read_as_the_rest_of_the_column_writes_it(make_job, rep, pipeline):
    # A German export: "1.234,56" elsewhere in the column says that "7.890" is seven thousand
    # eight hundred and ninety, not 7.89 (read in an English interface it was 7.89, silently).
    job = make_job(rep, csv_bytes(
        "Title;Company;Amount",
        "Licences;Alpha GmbH;1.234,56",
        "Rollout;Beta AG;7.890",
        "Pilot;Gamma KG;12,5",
    ), kind="deals", pipeline=pipeline)
    preview = import_preview(job)
    assert preview.ok, [r.errors for r in preview.rows]
    assert [r.values["amount"] for r in preview.rows] == [Decimal("1234.56"), Decimal("7890.00"), Decimal("12.50")]
    # The same file from an English-speaking system reads the other way round.
    job = make_job(rep, csv_bytes("Title,Company,Amount", 'Licences,Alpha,"1,234.56"', 'Rollout,Beta,"7,890"'),
                   kind="deals", pipeline=pipeline)
    assert [r.values["amount"] for r in import_preview(job).rows] == [Decimal("1234.56"), Decimal("7890.00")]


def test_a_value_that_reads_two_ways_in_a_mixed_column_is_reported_not_guessed(make_job, rep, pipeline):
    job = make_job(rep, csv_bytes(
        "Title;Company;Amount", "A;Alpha;1.234,56", "B;Beta;1,234.56", "C;Gamma;7.890", "D;Delta;500",
    ), kind="deals", pipeline=pipeline)
    preview = import_preview(job)
    errors = {row.line: row.errors for row in preview.rows}
    assert errors[2] == [] and errors[3] == [] and errors[5] == []
    assert len(errors[4]) == 1 and "reads two ways" in errors[4][0] and "7.890" in errors[4][0]
    assert not preview.ok


@pytest.mark.parametrize("text, separator, expected", [
    ("7.890", ",", Decimal("7890")), ("7,890", ",", Decimal("7.890")), ("7.890", ".", Decimal("7.890")),
    ("1.234.567,5", ",", Decimal("1234567.5")), ("1234", ",", Decimal("1234")),
])
def test_an_amount_is_read_with_the_decimal_separator_its_source_uses(text, separator, expected):
    from localization.formatting import parse_amount

    assert parse_amount(text, decimal_separator=separator) == expected


def test_an_amount_that_contradicts_its_sources_decimal_separator_is_refused():
    from localization.formatting import parse_amount

    with pytest.raises(ValueError):
        parse_amount("1,234.56", decimal_separator=",")


def test_a_deal_for_an_existing_company_is_added_to_its_organization(make_job, rep, pipeline):
    existing = OrganizationFactory(name="Known Corp", owner=rep)
    job = make_job(rep, csv_bytes(DEALS_HEADER, "Upsell,known corp,,,,,,,,"), kind="deals", pipeline=pipeline)
    preview = import_preview(job)
    assert preview.rows[0].organization_id == existing.pk and "Already in Stageflow" in preview.rows[0].duplicate
    import_commit(job)
    assert job.created_organizations == 0 and Deal.objects.get(title="Upsell").organization == existing


def test_a_rep_cannot_add_a_deal_to_an_organization_they_cannot_see(make_job, rep, pipeline):
    stranger = UserFactory(username="sam", team=TeamFactory(name="South"))
    OrganizationFactory(name="Secret Corp", owner=stranger)
    job = make_job(rep, csv_bytes(DEALS_HEADER, "Sneak,Secret Corp,,,,,,,,"), kind="deals", pipeline=pipeline)
    assert "a lead you cannot see" in import_preview(job).rows[0].errors[0]


def test_a_rep_cannot_import_deals_for_another_teams_owner(make_job, rep, pipeline):
    UserFactory(username="sam", team=TeamFactory(name="South"))
    UserFactory(username="tina", team=rep.team)  # a teammate: visible, but a rep assigns only to themself
    job = make_job(rep, csv_bytes(DEALS_HEADER, "A,Alpha,,,,,sam,,,", "B,Beta,,,,,tina,,,"), kind="deals",
                   pipeline=pipeline)
    errors = [row.errors for row in import_preview(job).rows]
    assert errors[0] == ["Owner: There is no user “sam”; use a username or e-mail address."]
    assert errors[1] == ["Owner: You cannot give deals to “tina”; only to " + str(rep) + "."]
    import_commit(job)
    assert job.status == ImportStatus.FAILED and not Deal.objects.exists()


def test_a_manager_can_import_deals_for_their_team(make_job, manager, rep, pipeline):
    job = make_job(manager, csv_bytes(DEALS_HEADER, "A,Alpha,,,,,rita@example.com,,,"), kind="deals", pipeline=pipeline)
    import_commit(job)
    assert Deal.objects.get(title="A").owner == rep


def test_deal_rows_with_bad_amounts_dates_stages_and_entry_rules(make_job, rep, pipeline):
    job = make_job(rep, csv_bytes(
        DEALS_HEADER,
        "A,Alpha,lots,,,,,,,",
        "B,Beta,,,31.02.2026,,,,,",
        "C,Gamma,,,,Closing,,,,",
        "D,Delta,,,,Offer,,,,",
        ",Epsilon,100,,,,,,,",
        "F,Zeta,100,EURO,,,,,,",
    ), kind="deals", pipeline=pipeline)
    errors = [row.errors for row in import_preview(job).rows]
    assert errors[0] == ["Amount: “lots” is not an amount."]
    assert errors[1][0].startswith("Expected close: “31.02.2026” is not a date")
    assert errors[2][0].startswith("Stage: “Closing” is not a stage of this pipeline (Prospecting, Qualification,")
    assert errors[3] == ["To enter “Offer”, this deal needs an amount."]
    assert errors[4] == ["Deal title is missing."]
    assert errors[5] == ["Currency: “EURO” is not a currency code such as EUR."]


def test_the_fit_score_entry_rule_is_checked_in_the_preview(make_job, rep, pipeline, stages):
    profile = Profile.objects.create(name="ICP")
    Criterion.objects.create(profile=profile, attribute="country", values="DE", weight=1)
    Transition.objects.filter(to_stage=stages["Qualification"], from_stage=None).update(min_fit_score=50)
    job = make_job(rep, csv_bytes("Title,Company,Country,Stage", "A,Alpha,FR,Qualification", "B,Beta,DE,Qualification"),
                   kind="deals", pipeline=pipeline)
    errors = [row.errors for row in import_preview(job).rows]
    assert errors == [
        ["To enter “Qualification”, the lead must score at least 50 on the ideal customer profile (it scores 0)."], [],
    ]


def test_an_unexpected_error_while_writing_history_leaves_nothing_behind(make_job, rep, pipeline):
    """The deals, their new companies and their history are written in one transaction."""
    job = make_job(rep, csv_bytes("Title,Company", "A,Alpha", "B,Beta"), kind="deals", pipeline=pipeline)
    with mock.patch("pipeline.events.stage_changes_bulk_record", side_effect=RuntimeError("boom")):
        with pytest.raises(RuntimeError):
            import_commit(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "Nothing was imported" in job.message
    assert not Deal.objects.exists() and not Organization.objects.filter(name__in=["Alpha", "Beta"]).exists()


@override_settings(STAGEFLOW={**__import__("django.conf").conf.settings.STAGEFLOW, "IMPORT_BACKGROUND_ROWS": 3})
def test_a_large_file_runs_as_a_task_and_reports_progress(make_job, rep, django_capture_on_commit_callbacks, background_jobs):
    """Without a broker the task runs in the server's background thread after the response,
    never inside the request that started it."""
    from imports.tasks import import_run

    job = make_job(rep, csv_bytes("Company", *[f"Company {i}" for i in range(250)]))
    seen = []
    real = services._progress

    def spy(job, done):
        seen.append(done)
        real(job, done)

    with mock.patch.object(services, "_progress", side_effect=spy):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            queued = services.import_start(job)
            job.refresh_from_db()
            assert queued and job.status == ImportStatus.QUEUED
        assert len(callbacks) == 1
        job.refresh_from_db()
        assert job.status == ImportStatus.QUEUED and not seen  # handed over, not run in the request
        assert background_jobs == [(import_run, (job.pk,))]
        background_jobs.run()
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.created_organizations == 250 and job.percent == 100
    assert seen == [0, 100, 200, 250, 250]  # leads are written 100 at a time


def test_the_task_does_not_import_a_finished_job_twice(make_job, rep):
    from imports.tasks import import_run

    job = make_job(rep, csv_bytes("Company", "Once Only"))
    import_commit(job)
    assert import_run.delay(job.pk).get() == "skipped"
    assert Organization.objects.filter(name="Once Only").count() == 1


def test_a_broker_that_cannot_be_reached_fails_the_job_instead_of_leaving_it_queued(make_job, rep, monkeypatch):
    from config.celery import app as celery_app
    from imports.tasks import import_run

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)  # a broker is configured

    job = make_job(rep, csv_bytes("Company", "A"))
    job.status = ImportStatus.QUEUED
    job.save()
    with mock.patch.object(import_run, "delay", side_effect=ConnectionError("broker down")):
        services._enqueue(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "could not be started" in job.message


def test_finished_jobs_forget_the_file_and_abandoned_uploads_are_pruned(make_job, rep):
    from datetime import timedelta

    from django.utils import timezone

    done = make_job(rep, csv_bytes("Company", "Kept Ltd"))
    import_commit(done)
    done.refresh_from_db()
    assert done.rows == [] and done.headers == ["Company"] and done.created_organizations == 1
    old = make_job(rep, csv_bytes("Company", "Old"))
    fresh = make_job(rep, csv_bytes("Company", "Fresh"))
    ImportJob_ = type(old)
    ImportJob_.objects.filter(pk__in=[old.pk, done.pk]).update(created_at=timezone.now() - timedelta(days=8))
    assert services.imports_prune() == 1
    assert set(ImportJob_.objects.values_list("pk", flat=True)) == {done.pk, fresh.pk}


# --- Duplicates the importer may not see are never named ----------------------------------------


def test_an_organization_row_matching_another_teams_organization_by_website_says_only_that_one_exists(make_job, rep):
    north = UserFactory(username="nils", team=TeamFactory(name="Far North"))
    OrganizationFactory(name="Nordlicht Secret Holding", website="https://www.nordlicht.example/about", owner=north)
    job = make_job(rep, csv_bytes("Name,Website", "Probe,nordlicht.example"))

    row = import_preview(job).rows[0]

    assert row.duplicate == "Already in Stageflow as a lead you cannot see (same website domain)."
    assert "Nordlicht" not in row.duplicate
    assert row.skip, "the row is still not imported twice"


def test_a_deal_row_matching_another_teams_organization_by_website_does_not_name_it(make_job, rep, pipeline):
    north = UserFactory(username="nils", team=TeamFactory(name="Far North"))
    OrganizationFactory(name="Nordlicht Secret Holding", website="https://nordlicht.example", owner=north)
    job = make_job(rep, csv_bytes(DEALS_HEADER, "Probe deal,Probe,,,,,,nordlicht.example,,"), kind="deals",
                   pipeline=pipeline)

    row = import_preview(job).rows[0]

    messages = " ".join([row.duplicate, *row.errors])
    assert "Nordlicht" not in messages
    assert "a lead you cannot see" in row.duplicate and "a lead you cannot see" in row.errors[0]


def test_an_organization_row_matching_a_visible_organization_names_it(make_job, rep):
    OrganizationFactory(name="Own Customer GmbH", website="https://own.example", owner=rep)
    job = make_job(rep, csv_bytes("Name,Website", "Own Customer,own.example"))

    assert import_preview(job).rows[0].duplicate == "Already in Stageflow as “Own Customer GmbH” (same website domain)."
