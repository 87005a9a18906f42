"""The JSON answer of /search/ (Accept: application/json):

    {"q": "schmidt", "kind": null,
     "deals": {"results": [{"id", "title", "url", "organization": {"id", "name"} | null, "stage",
                            "status", "amount" (a decimal string) | null, "currency", "owner",
                            "match", "matched"}], "more": false},
     "organizations": {"results": [{"id", "name", "url", "domains": [...], "city", "country",
                                    "match", "matched"}], "more": false},
     "people": {"results": [{"id", "name", "url", "organization": {…} | null, "job_title", "email",
                             "phone", "match", "matched"}], "more": false}}

Only the kinds searched are there (all three, or the one `kind` names). `match` says what matched:
"name", "email", "phone" or "domain"; `matched` is the address, number or domain that did ("" for
a name). `more`: there are more results than shown; ask again with `kind` for up to 50."""
from .selectors import DEALS, ORGANIZATIONS, PEOPLE, Hit, SearchResults


def _organization(organization) -> dict | None:
    if organization is None:
        return None
    return {"id": organization.pk, "name": organization.name}


def _deal(hit: Hit) -> dict:
    deal = hit.obj
    return {
        "id": deal.pk, "title": deal.title, "url": hit.url, "organization": _organization(deal.organization),
        "stage": str(deal.stage), "status": deal.status,
        "amount": None if deal.amount is None else str(deal.amount), "currency": deal.currency,
        "owner": str(deal.owner) if deal.owner_id else None, "match": hit.match, "matched": hit.matched,
    }


def _org(hit: Hit) -> dict:
    organization = hit.obj
    return {
        "id": organization.pk, "name": organization.name, "url": hit.url, "domains": organization.domain_list,
        "city": organization.city, "country": organization.country, "match": hit.match, "matched": hit.matched,
    }


def _person(hit: Hit) -> dict:
    person = hit.obj
    return {
        "id": person.pk, "name": person.name, "url": hit.url, "organization": _organization(person.organization),
        "job_title": person.job_title, "email": person.email, "phone": person.phone,
        "match": hit.match, "matched": hit.matched,
    }


ITEMS = {DEALS: _deal, ORGANIZATIONS: _org, PEOPLE: _person}


def results_json(results: SearchResults, *, kind: str = "") -> dict:
    data = {"q": results.query.text, "kind": kind or None}
    for name, found in results.kinds.items():
        data[name] = {"results": [ITEMS[name](hit) for hit in found.hits], "more": found.more}
    return data
