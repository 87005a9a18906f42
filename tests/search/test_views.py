"""GET /search/?q=…: JSON for `Accept: application/json`, the results page, the top bar's dropdown
(HTMX), and what bad input gets."""
import pytest
from django.urls import reverse

from pipeline.models import DealStatus
from search.selectors import KIND_LIMIT

from .conftest import deal, organization, person

pytestmark = pytest.mark.django_db

URL = "/search/"
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def book(teams):
    rita, olga = teams["rita"], teams["olga"]
    zandor = organization("Zandor GmbH", owner=rita, domains="zandor.de", city="Berlin")
    quill = organization("Quillfeather AG", owner=olga, domains="quillfeather.ch")
    anna = person("Anna Kellner", owner=rita, at=zandor, emails=["anna.kellner@zandor.de"], phones=["+49 30 1234567"],
                  job_title="Head of purchasing")
    person("Kellner Süd", owner=olga, at=quill, emails=["kellner@quillfeather.ch"])
    rollout = deal("Zandor rollout", owner=rita, at=zandor, amount="12500.00", currency="EUR")
    deal("Quillfeather pilot", owner=olga, at=quill)
    return {"zandor": zandor, "anna": anna, "rollout": rollout}


@pytest.fixture
def rita(client, teams):
    client.force_login(teams["rita"])
    return client


def test_the_url_is_the_contract():
    assert reverse("search:search") == URL


def test_json_lists_each_kind_with_what_matched(rita, book):
    response = rita.get(URL, {"q": "zandor"}, **JSON)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"q", "kind", "deals", "organizations", "people"}
    assert data["q"] == "zandor" and data["kind"] is None
    zandor, rollout = book["zandor"], book["rollout"]
    assert data["organizations"] == {"more": False, "results": [{
        "id": zandor.pk, "name": "Zandor GmbH", "url": f"/pipeline/organizations/{zandor.pk}/",
        "domains": ["zandor.de"], "city": "Berlin", "country": "DE", "match": "name", "matched": "",
    }]}
    assert data["deals"] == {"more": False, "results": [{
        "id": rollout.pk, "title": "Zandor rollout", "url": f"/pipeline/deals/{rollout.pk}/",
        "organization": {"id": zandor.pk, "name": "Zandor GmbH"}, "stage": "Prospecting", "status": DealStatus.OPEN,
        "amount": "12500.00", "currency": "EUR", "owner": "Rita Roth", "match": "name", "matched": "",
    }]}
    # Anna's e-mail address contains the text: she is found by it.
    [anna] = data["people"]["results"]
    assert anna == {
        "id": book["anna"].pk, "name": "Anna Kellner", "url": f"/pipeline/people/{book['anna'].pk}/",
        "organization": {"id": zandor.pk, "name": "Zandor GmbH"}, "job_title": "Head of purchasing",
        "email": "anna.kellner@zandor.de", "phone": "+49 30 1234567", "match": "email",
        "matched": "anna.kellner@zandor.de",
    }


def test_json_by_phone_says_the_number_that_matched(rita, book):
    data = rita.get(URL, {"q": "030 1234567"}, **JSON).json()
    assert [(p["name"], p["match"], p["matched"]) for p in data["people"]["results"]] == [
        ("Anna Kellner", "phone", "+49 30 1234567"),
    ]


def test_json_of_one_kind_answers_with_that_kind_only(rita, teams, book):
    for i in range(12):
        person(f"Vendelbo {i:02d}", owner=teams["rita"], at=book["zandor"])
    data = rita.get(URL, {"q": "vendelbo"}, **JSON).json()
    assert len(data["people"]["results"]) == 8 and data["people"]["more"] is True
    data = rita.get(URL, {"q": "vendelbo", "kind": "people"}, **JSON).json()
    assert set(data) == {"q", "kind", "people"} and data["kind"] == "people"
    assert len(data["people"]["results"]) == 12 and data["people"]["more"] is False
    assert KIND_LIMIT == 50


def test_json_never_shows_what_the_user_may_not_see(rita, book):
    for text in ("quillfeather", "kellner", "kellner@quillfeather.ch", "quillfeather.ch"):
        body = rita.get(URL, {"q": text}, **JSON).content.decode()
        assert "Quillfeather" not in body and "Kellner Süd" not in body, text


def test_a_browser_gets_the_results_page(rita, book):
    response = rita.get(URL, {"q": "zandor"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<html" in page and 'id="sf-search-q"' in page and 'value="zandor"' in page
    assert f'href="/pipeline/organizations/{book["zandor"].pk}/"' in page
    assert f'href="/pipeline/deals/{book["rollout"].pk}/"' in page
    assert "Anna Kellner" in page and "anna.kellner@zandor.de" in page
    assert "Quillfeather" not in page
    assert response["Vary"].count("Accept") and "HX-Request" in response["Vary"]


def test_the_page_offers_more_of_a_kind_when_there_are_more(rita, teams, book):
    for i in range(9):
        person(f"Vendelbo {i}", owner=teams["rita"], at=book["zandor"])
    page = rita.get(URL, {"q": "vendelbo"}).content.decode()
    assert "/search/?q=vendelbo&amp;kind=people" in page and "Show more people" in page
    page = rita.get(URL, {"q": "vendelbo", "kind": "people"}).content.decode()
    assert page.count('class="sf-find-name"') == 9 and "Show more people" not in page


def test_the_top_bar_box_is_on_every_page_and_its_dropdown_is_a_partial(rita, book):
    board = rita.get("/pipeline/").content.decode()
    assert 'id="sf-find-input"' in board and 'role="combobox"' in board and 'hx-get="/search/"' in board
    response = rita.get(URL, {"q": "zandor"}, HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert "<html" not in fragment and 'role="listbox"' in fragment
    assert fragment.count('role="option"') == 3 + 1  # three results and "All results"
    assert 'id="sf-find-organizations-' in fragment and "All results for “zandor”" in fragment


def test_the_dropdown_says_when_nothing_is_found_and_is_empty_for_too_little_text(rita, book):
    fragment = rita.get(URL, {"q": "nothing like this"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing found for “nothing like this”" in fragment
    assert rita.get(URL, {"q": "z"}, HTTP_HX_REQUEST="true").content.decode().strip() == ""


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "z"}, {"q": "   "}, {"q": "\x00"}])
def test_too_little_text_gets_a_hint_and_no_results(rita, book, params):
    response = rita.get(URL, params)
    assert response.status_code == 200
    assert "Type at least two characters" in response.content.decode() or not params.get("q", "").strip("\x00 ")
    data = rita.get(URL, params, **JSON).json()
    assert all(data[kind] == {"results": [], "more": False} for kind in ("deals", "organizations", "people"))


@pytest.mark.parametrize("text", [
    "x" * 5000, "'; DROP TABLE pipeline_person; --", "<script>alert(1)</script>", "%_%", "Zandor\x00GmbH", "{{ user }}",
])
def test_bad_input_is_searched_as_text_and_shown_escaped(rita, book, text):
    response = rita.get(URL, {"q": text})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    data = rita.get(URL, {"q": text}, **JSON).json()
    assert len(data["q"]) <= 100 and "\x00" not in data["q"]
    assert rita.get(URL, {"q": text}, HTTP_HX_REQUEST="true").status_code == 200


def test_an_unknown_kind_shows_everything(rita, book):
    data = rita.get(URL, {"q": "zandor", "kind": "spaceships"}, **JSON).json()
    assert data["kind"] is None and {"deals", "organizations", "people"} <= set(data)


def test_only_reading_is_allowed(rita):
    assert rita.post(URL, {"q": "zandor"}).status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL, {"q": "zandor"}, **JSON)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_page_and_the_dropdown_speak_german(client, teams, book):
    teams["rita"].language = "de"
    teams["rita"].save()
    client.force_login(teams["rita"])
    page = client.get(URL, {"q": "zandor"}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Organisationen" in page and "Personen" in page
    fragment = client.get(URL, {"q": "zandor"}, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Alle Ergebnisse für „zandor“" in fragment


@pytest.mark.parametrize("variant", ["json", "page", "dropdown"])
def test_a_search_request_runs_the_same_queries_for_more_data(rita, teams, book, variant, django_assert_num_queries):
    headers = {"json": JSON, "page": {}, "dropdown": {"HTTP_HX_REQUEST": "true"}}[variant]
    deal("Kellner framework", owner=teams["rita"], at=book["zandor"])  # a deal, a person: both kinds found
    rita.get(URL, {"q": "kellner"}, **headers)  # the session and the user are read once per request

    def queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert rita.get(URL, {"q": "kellner"}, **headers).status_code == 200
        return len(captured)

    few = queries()
    for i in range(15):
        person(f"Kellner {i}", owner=teams["rita"], at=book["zandor"], emails=[f"kellner{i}@zandor.de"])
        deal(f"Kellner deal {i}", owner=teams["rita"], at=book["zandor"])
    with django_assert_num_queries(few):
        assert rita.get(URL, {"q": "kellner"}, **headers).status_code == 200
    assert few <= 3 + 5  # the session and the user (and one more of the request's own); the search's


def test_every_result_leads_to_a_page_the_user_may_open(rita, teams, book):
    person("Vagabund Ohneort", owner=teams["rita"])  # at no organisation
    data = rita.get(URL, {"q": "vagabund"}, **JSON).json()
    data_all = rita.get(URL, {"q": "zandor"}, **JSON).json()
    urls = [item["url"] for found in (data, data_all) for kind in ("deals", "organizations", "people")
            for item in found[kind]["results"]]
    assert len(urls) == 4
    for url in urls:
        assert rita.get(url).status_code == 200, url
