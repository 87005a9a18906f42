"""Find anything: the deals, organisations and people a user may see whose name, e-mail address,
phone number or web domain matches what they typed, best matches first.

Ranking, the same on every database (a tier first, then closeness, then the name):

    0  the name is the text                 ("Anna Schmidt")
    1  the name starts with it              ("Anna Sch")
    2  every word starts a word of the name ("schmidt", "schmidt anna")
    3  an e-mail address, phone number or domain is it   ("anna@acme.com", "+49 30 1234567", "acme.com")
    4  … starts with it                     ("anna.sch", "030 1234")
    5  the name or one of those contains it
    6  the rest: a name like the text (a typo, PostgreSQL only) or with all its words somewhere

Within a tier, open deals come before closed ones, then names by pg_trgm's similarity to the text,
then alphabetically. One query per kind, whatever the data (and one for the organisations of the
deals and people found): candidates come from one UNION of index-friendly matches (on PostgreSQL,
GIN trigram indexes: search/migrations/0001), are narrowed by the user's visibility
(pipeline.selectors), ranked by the database and cut to the limit. On
SQLite, which has no trigrams, the database ranks by tier and name and cuts at CANDIDATES rows;
Python orders those by similarity, so both give the same order (SQLite does not find typos).
"""
from dataclasses import dataclass

from django.contrib.postgres.lookups import TrigramWordSimilar
from django.contrib.postgres.search import TrigramSimilarity
from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Lower, Upper

from pipeline import selectors as pipeline_selectors
from pipeline.models import Deal, DealStatus, Organization, Person, PersonEmail, PersonPhone

from . import query as search_query
from .query import SearchQuery

DEALS, ORGANIZATIONS, PEOPLE = "deals", "organizations", "people"
KINDS = (DEALS, ORGANIZATIONS, PEOPLE)
OVERVIEW_LIMIT = 8  # per kind, on the results page and in JSON when no kind is asked for
DROPDOWN_LIMIT = 5  # per kind, in the top bar's dropdown
KIND_LIMIT = 50  # one kind's "show all"
CANDIDATES = 200  # SQLite: the rows per kind that Python ranks by similarity
# A phone number's digits may end a stored number that has a country code in front ("030 1234567"
# finds +49 30 1234567) when there are enough of them to name one line, not a thousand.
MIN_NATIONAL_DIGITS = 6
# Names like the text (typos) are looked for from this length on: "50" is like "500", "Bu" like "Bau".
MIN_SIMILAR_LENGTH = 4

EXACT, PREFIX, WORDS, CONTACT_EXACT, CONTACT_PREFIX, CONTAINS, OTHER = range(7)
NAME, EMAIL, PHONE, DOMAIN = "name", "email", "phone", "domain"


@dataclass
class Hit:
    obj: Deal | Organization | Person
    tier: int
    match: str  # what matched: NAME, EMAIL, PHONE or DOMAIN
    matched: str = ""  # the e-mail address, number or domain that matched (empty for a name)

    @property
    def url(self) -> str:
        return self.obj.get_absolute_url()


@dataclass
class KindResults:
    kind: str
    hits: list[Hit]
    more: bool  # there are more than the limit


@dataclass
class SearchResults:
    query: SearchQuery
    kinds: dict[str, KindResults]

    @property
    def is_empty(self) -> bool:
        return not any(results.hits for results in self.kinds.values())


def search(user, text: str, *, kinds=KINDS, limit: int = OVERVIEW_LIMIT) -> SearchResults:
    """What `user` may see that matches `text`, per kind (of KINDS, in that order), at most `limit`
    each. Text shorter than search.query.MIN_LENGTH finds nothing and runs no query."""
    query = search_query.parse(text)
    finders = {DEALS: _deals, ORGANIZATIONS: _organizations, PEOPLE: _people}
    results = {}
    for kind in KINDS:
        if kind not in kinds:
            continue
        results[kind] = finders[kind](user, query, limit) if query.is_usable else KindResults(kind, [], False)
    return SearchResults(query=query, kinds=results)


# --- What matches ---------------------------------------------------------------------------------


def _trigrams() -> bool:
    return connection.vendor == "postgresql"


def _any(conditions: list[Q]) -> Q | None:
    combined = None
    for condition in conditions:
        combined = condition if combined is None else combined | condition
    return combined


def _name_tiers(field: str, query: SearchQuery) -> list[tuple[int, Q]]:
    words = Q()
    for word in query.words:
        words &= Q(**{f"{field}__istartswith": word}) | Q(**{f"{field}__icontains": f" {word}"})
    return [
        (EXACT, Q(**{f"{field}__iexact": query.text})),
        (PREFIX, Q(**{f"{field}__istartswith": query.text})),
        (WORDS, words),
    ]


def _name_match(field: str, query: SearchQuery) -> Q:
    """Rows whose `field` contains the text or all its words, or (PostgreSQL) has a word like it:
    one bitmap scan of the trigram index there."""
    match = Q(**{f"{field}__icontains": query.text})
    if len(query.words) > 1:
        match |= Q(*[Q(**{f"{field}__icontains": word}) for word in query.words])
    if _trigrams() and query.may_be_a_name and len(query.text) >= MIN_SIMILAR_LENGTH:
        # UPPER(field): the expression the trigram index is on (pg_trgm ignores case anyway).
        match |= Q(TrigramWordSimilar(Upper(field), Value(query.text)))
    return match


def _tier(name_field: str, query: SearchQuery, *, exact=(), prefix=(), contains=()) -> Case:
    """The tier of a row; `exact`, `prefix` and `contains` are the conditions on its e-mail
    addresses, phone numbers or domains."""
    tiers = _name_tiers(name_field, query)
    for tier, conditions in ((CONTACT_EXACT, exact), (CONTACT_PREFIX, prefix)):
        if conditions:
            tiers.append((tier, _any(list(conditions))))
    tiers.append((CONTAINS, _any([Q(**{f"{name_field}__icontains": query.text}), *contains])))
    whens = [When(condition, then=Value(tier)) for tier, condition in tiers]
    return Case(*whens, default=Value(OTHER), output_field=IntegerField())


def _ranked(
    *, user, query: SearchQuery, limit: int, model, field: str, visible, match: Q, other_ids=(), exact=(), prefix=(),
    contains=(), first=None, details=None, related=(), prefetch=(),
) -> tuple[list, bool]:
    """The visible rows of `model` that match, in rank order (tier, then the annotations in
    `first`, then similarity and name), at most `limit`, and whether there were more.

    One query ranks the candidates (rows matching `match`, plus the ids that `other_ids`, queries
    on other tables, find) that `visible` lets the user see, with `related` rows joined and
    `details` annotations (PostgreSQL works those out for the rows kept only); `prefetch` reads
    the organisations of the rows kept in one more. Joining the organisations too would make
    PostgreSQL hash all of them when a common name has thousands of candidates."""
    first = first or {}
    rank = {"tier": _tier(field, query, exact=exact, prefix=prefix, contains=contains), **first}
    order = ["tier", *first]
    if _trigrams():
        rank["similarity"] = TrigramSimilarity(field, query.text)
        order.append("-similarity")
    order += [Lower(field), "pk"]
    rows = model.objects.order_by()
    if other_ids:
        candidates = model.objects.filter(pk__in=_union([rows.filter(match).values("pk"), *other_ids]))
    else:
        candidates = rows.filter(match)
    ranked = (
        visible(user, queryset=candidates).select_related(*related).prefetch_related(*prefetch)
        .annotate(**rank, **(details or {})).order_by(*order)
    )
    # SQLite ranks by similarity in Python: it reads more rows to choose from.
    found = list(ranked[: limit + 1] if _trigrams() else ranked[: max(CANDIDATES, limit + 1)])
    if not _trigrams():
        found.sort(key=lambda row: (
            row.tier, *(getattr(row, name) for name in first),
            -search_query.similarity(getattr(row, field), query.text), getattr(row, field).casefold(), row.pk,
        ))
    return found[:limit], len(found) > limit


def _union(querysets: list[QuerySet]) -> QuerySet:
    return querysets[0].union(*querysets[1:], all=True) if len(querysets) > 1 else querysets[0]


def _match(row, name_field: str, query: SearchQuery, contacts: list[tuple[str, str]]) -> tuple[str, str]:
    """What made the row a result: its name, or the first of `contacts` ((kind, value) pairs,
    empty values skipped) when the tier is about them and the name does not contain the text."""
    if row.tier in (EXACT, PREFIX, WORDS, OTHER):
        return NAME, ""
    if row.tier == CONTAINS and query.text.casefold() in getattr(row, name_field).casefold():
        return NAME, ""
    for kind, value in contacts:
        if value:
            return kind, value
    return NAME, ""


# --- Each kind ------------------------------------------------------------------------------------


def _deals(user, query: SearchQuery, limit: int) -> KindResults:
    rows, more = _ranked(
        user=user, query=query, limit=limit, model=Deal, field="title", visible=pipeline_selectors.visible_deals,
        match=_name_match("title", query), related=("stage", "owner"), prefetch=("organization",),
        first={"is_closed": _closed()},
    )
    return KindResults(DEALS, [Hit(row, row.tier, NAME) for row in rows], more)


def _closed() -> Case:
    return Case(When(status=DealStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())


def _domain_conditions(query: SearchQuery) -> tuple[list[Q], list[Q], list[Q]]:
    """`domains` holds space-separated domains: one of them is, starts with or contains the text."""
    domain = query.domain
    if not domain:
        return [], [], []
    exact = (
        Q(domains__iexact=domain) | Q(domains__istartswith=f"{domain} ") | Q(domains__iendswith=f" {domain}")
        | Q(domains__icontains=f" {domain} ")
    )
    prefix = Q(domains__istartswith=domain) | Q(domains__icontains=f" {domain}")
    return [exact], [prefix], [Q(domains__icontains=domain)]


def _matched_domain(organization: Organization, query: SearchQuery) -> str:
    domains = organization.domain_list
    for test in (str.__eq__, str.startswith, str.__contains__):
        for domain in domains:
            if query.domain and test(domain.lower(), query.domain):
                return domain
    return ""


def _organizations(user, query: SearchQuery, limit: int) -> KindResults:
    match = _name_match("name", query)
    if query.domain:
        match |= Q(domains__icontains=query.domain)
    exact, prefix, contains = _domain_conditions(query)
    rows, more = _ranked(
        user=user, query=query, limit=limit, model=Organization, field="name",
        visible=pipeline_selectors.visible_organizations, match=match, exact=exact, prefix=prefix, contains=contains,
    )
    hits = [Hit(row, row.tier, *_match(row, "name", query, [(DOMAIN, _matched_domain(row, query))])) for row in rows]
    return KindResults(ORGANIZATIONS, hits, more)


def _phones_matching(phones: QuerySet, variants: tuple[str, ...], lookup: str) -> QuerySet:
    return phones.filter(_any([Q(**{f"digits__{lookup}": variant}) for variant in variants]))


def _people(user, query: SearchQuery, limit: int) -> KindResults:
    emails, phones = PersonEmail.objects.order_by(), PersonPhone.objects.order_by()
    own_emails, own_phones = emails.filter(person_id=OuterRef("pk")), phones.filter(person_id=OuterRef("pk"))
    other_ids, exact, prefix, contains, details = [], [], [], [], {}
    if query.email:
        other_ids.append(emails.filter(address__icontains=query.email).values("person_id"))
        exact.append(Q(Exists(own_emails.filter(address__iexact=query.email))))
        prefix.append(Q(Exists(own_emails.filter(address__istartswith=query.email))))
        matching = own_emails.filter(address__icontains=query.email)
        contains.append(Q(Exists(matching)))
        details["matched_email"] = Subquery(matching.order_by("position", "pk").values("address")[:1])
    if query.digits:
        other_ids.append(_phones_matching(phones, query.phone_variants, "contains").values("person_id"))
        same = Q(digits=query.digits)
        if len(query.national) >= MIN_NATIONAL_DIGITS:
            same |= Q(digits__endswith=query.national)
        exact.append(Q(Exists(own_phones.filter(same))))
        prefix.append(Q(Exists(_phones_matching(own_phones, query.phone_variants, "startswith"))))
        matching = _phones_matching(own_phones, query.phone_variants, "contains")
        contains.append(Q(Exists(matching)))
        details["matched_phone"] = Subquery(matching.order_by("position", "pk").values("number")[:1])
    rows, more = _ranked(
        user=user, query=query, limit=limit, model=Person, field="name", visible=_visible_people,
        match=_name_match("name", query), other_ids=other_ids, exact=exact, prefix=prefix, contains=contains,
        details=details, prefetch=("organization",),
    )
    hits = [
        Hit(row, row.tier, *_match(row, "name", query, [
            (EMAIL, getattr(row, "matched_email", "") or ""), (PHONE, getattr(row, "matched_phone", "") or ""),
        ]))
        for row in rows
    ]
    return KindResults(PEOPLE, hits, more)


def _visible_people(user, *, queryset: QuerySet[Person]) -> QuerySet[Person]:
    """The people the user may see, less those whose data was erased: nothing left to find."""
    return pipeline_selectors.visible_persons(user, queryset=queryset.filter(erased_at__isnull=True))
