"""Exports of the board and the lead list: filters, visibility, numbers, and no formula injection."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from exports.services import neutralise
from pipeline.models import Organization
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def csv_rows(response, delimiter: str = ",") -> list[dict]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=delimiter))


def xlsx_sheet(response):
    workbook = load_workbook(io.BytesIO(response.content))
    return workbook.worksheets[0]


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+49 30 123", "'+49 30 123"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), ("", ""),
])
def test_values_that_spreadsheets_would_evaluate_are_neutralised(value, expected):
    assert neutralise(value) == expected


def test_board_csv_has_the_visible_deals_with_amounts_and_currencies(client, rep, stages):
    other = UserFactory(username="olaf", team=TeamFactory(name="South"))
    DealFactory(owner=rep, title="Mine", amount=Decimal("1234.50"), currency="USD", stage=stages["Offer"],
                expected_close=date(2026, 12, 24))
    DealFactory(owner=other, title="Not mine")
    client.force_login(rep)
    response = client.get(reverse("exports:board_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="stageflow-board-' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [r["Title"] for r in rows] == ["Mine"]
    assert (rows[0]["Amount"], rows[0]["Currency"], rows[0]["Stage"], rows[0]["Expected close"]) == (
        "1234.50", "USD", "Offer", "2026-12-24")
    assert rows[0]["Probability (%)"] == "60"


def test_in_german_the_csv_uses_semicolons_and_decimal_commas_so_german_excel_splits_the_columns(client, rep, stages):
    DealFactory(owner=rep, title="Mine", amount=Decimal("1234.50"), currency="EUR", stage=stages["Offer"],
                expected_close=date(2026, 12, 24))
    client.force_login(rep)
    client.cookies["django_language"] = "de"
    rows = csv_rows(client.get(reverse("exports:board_csv"), HTTP_ACCEPT_LANGUAGE="de"), delimiter=";")
    assert len(rows) == 1 and len(rows[0]) > 5  # split into columns, not one
    assert "1234,50" in rows[0].values() and "2026-12-24" in rows[0].values()
    # Either style on request, whatever the language.
    rows = csv_rows(client.get(reverse("exports:board_csv"), {"separator": "comma"}, HTTP_ACCEPT_LANGUAGE="de"))
    assert "1234.50" in rows[0].values()
    client.cookies["django_language"] = "en"
    rows = csv_rows(client.get(reverse("exports:board_csv"), {"separator": "semicolon"}), delimiter=";")
    assert rows[0]["Amount"] == "1234,50"


def test_board_export_applies_the_boards_filters(client, manager, rep, stages):
    DealFactory(owner=rep, title="Rita's early", expected_close=date(2026, 1, 10), organization=OrganizationFactory(name="Zeta"))
    DealFactory(owner=rep, title="Rita's late", expected_close=date(2026, 6, 10))
    DealFactory(owner=manager, title="Max's", expected_close=date(2026, 1, 15))
    client.force_login(manager)
    url = reverse("exports:board_csv")
    assert {r["Title"] for r in csv_rows(client.get(url, {"owner": rep.pk}))} == {"Rita's early", "Rita's late"}
    assert {r["Title"] for r in csv_rows(client.get(url, {"q": "zeta"}))} == {"Rita's early"}
    got = {r["Title"] for r in csv_rows(client.get(url, {"close_from": "2026-01-01", "close_to": "2026-01-31"}))}
    assert got == {"Rita's early", "Max's"}


def test_a_rep_cannot_export_what_they_cannot_see(client, rep):
    stranger = UserFactory(username="sam", team=TeamFactory(name="South"))
    DealFactory(owner=stranger, title="Secret deal")
    OrganizationFactory(name="Secret lead", owner=stranger)
    client.force_login(rep)
    assert csv_rows(client.get(reverse("exports:board_csv"), {"owner": stranger.pk})) == []
    assert xlsx_sheet(client.get(reverse("exports:board_xlsx"), {"owner": stranger.pk})).max_row == 1
    assert "Secret lead" not in b"".join(client.get(reverse("exports:organizations_csv")).streaming_content).decode()


def test_an_unknown_pipeline_is_not_found(client, rep):
    client.force_login(rep)
    assert client.get(reverse("exports:board_csv"), {"pipeline": "999"}).status_code == 404
    assert client.get(reverse("exports:board_csv"), {"pipeline": "x"}).status_code == 404


def test_exports_need_sign_in(client):
    assert client.get(reverse("exports:board_csv")).status_code == 302
    assert client.get(reverse("exports:organizations_xlsx")).status_code == 302


def test_formulas_in_cells_are_neutralised_in_csv(client, rep):
    organization = OrganizationFactory(name="=HYPERLINK(\"http://evil.example\",\"x\")", contact_phone="+49 30 1234", owner=rep)
    DealFactory(owner=rep, title="@SUM(1+1)*cmd|' /C calc'!A0", organization=organization, amount=Decimal("10"))
    client.force_login(rep)
    deal_row = csv_rows(client.get(reverse("exports:board_csv")))[0]
    assert deal_row["Title"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert deal_row["Company"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert deal_row["Amount"] == "10.00"  # numbers stay numbers
    organization_row = next(r for r in csv_rows(client.get(reverse("exports:organizations_csv"))) if r["ID"] == str(organization.pk))
    assert organization_row["Company"].startswith("'=") and organization_row["Contact phone"] == "'+49 30 1234"


def test_formulas_in_cells_are_strings_in_excel_and_amounts_numbers(client, rep):
    organization = OrganizationFactory(name="=1+1", owner=rep)
    DealFactory(owner=rep, title="-2+3", organization=organization, amount=Decimal("99.90"), currency="CHF")
    client.force_login(rep)
    response = client.get(reverse("exports:board_xlsx"))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = xlsx_sheet(response)
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[2])}
    assert row["Title"].value == "-2+3" and row["Title"].data_type == "s"
    assert row["Company"].value == "=1+1" and row["Company"].data_type == "s"
    assert row["Amount"].value == pytest.approx(99.9) and row["Amount"].data_type == "n"
    assert row["Currency"].value == "CHF"


def test_organization_export_uses_the_organization_lists_filters_and_sorting(client, admin_user):
    for name, score, industry in [("Low", 10, "Software"), ("High", 90, "Software"), ("Other", 95, "Retail")]:
        organization = OrganizationFactory(name=name, industry=industry)
        Organization.objects.filter(pk=organization.pk).update(fit_score=score)
    client.force_login(admin_user)
    rows = csv_rows(client.get(reverse("exports:organizations_csv"), {"industry": "Software", "sort": "fit"}))
    assert [(r["Company"], r["Fit score"]) for r in rows] == [("High", "90"), ("Low", "10")]
    assert rows[0]["Fit: matched criteria"] == ""  # scores set by hand: no explanation to give
    sheet = xlsx_sheet(client.get(reverse("exports:organizations_xlsx"), {"min_score": "50"}))
    assert [sheet.cell(row=i, column=2).value for i in range(2, sheet.max_row + 1)] == ["Other", "High"]


def test_board_export_query_count_does_not_grow_with_deals(client, admin_user, stages, django_assert_max_num_queries):
    for i in range(40):
        DealFactory(owner=admin_user, stage=stages["Qualification"])
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("exports:board_csv"))
        rows = csv_rows(response)
    assert len(rows) == 40
    with django_assert_max_num_queries(8):
        client.get(reverse("exports:board_xlsx"))


def test_organization_export_explains_the_fit(client, admin_user):
    from qualification.models import Criterion, Profile

    profile = Profile.objects.create(name="ICP")
    Criterion.objects.create(profile=profile, attribute="country", values="DE", weight=1)
    OrganizationFactory(name="Berlin AG", country="DE")
    client.force_login(admin_user)
    row = csv_rows(client.get(reverse("exports:organizations_csv")))[0]
    assert (row["Fit score"], row["Fit: matched criteria"]) == ("100", "Country is DE (+1)")


def test_organization_export_names_the_main_contact_in_a_fixed_number_of_queries(
    client, admin_user, django_assert_max_num_queries,
):
    for i in range(30):
        OrganizationFactory(name=f"Org {i:02}", contact_name=f"Person {i:02}", contact_email=f"p{i}@org{i}.example")
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        rows = csv_rows(client.get(reverse("exports:organizations_csv"), {"sort": "name"}))
    assert [(r["Company"], r["Contact person"], r["Contact e-mail"]) for r in rows[:2]] == [
        ("Org 00", "Person 00", "p0@org0.example"), ("Org 01", "Person 01", "p1@org1.example"),
    ]
