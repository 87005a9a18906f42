"""The board, the move endpoints, and the deal and lead pages, through the test client."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape
from django.utils import timezone

from pipeline.models import Deal, DealChange, DealStatus, Organization, LostReason, Pipeline, Stage, StageChange, Transition
from tests.factories import DealFactory, OrganizationFactory, TeamFactory, UserFactory, lost_reason

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def teammate(team):
    return UserFactory(username="sam", role="rep", team=team)


@pytest.fixture
def outsider(db):
    return UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def other_pipeline(db):
    pipeline = Pipeline.objects.create(name="Upsell", position=1)
    stage = Stage.objects.create(pipeline=pipeline, name="Idea", position=0, probability=30, colour="#123456")
    Transition.objects.create(pipeline=pipeline, to_stage=stage)
    return pipeline


def move_url(deal):
    return reverse("pipeline:deal_move", args=[deal.pk])


def lose_url(deal):
    return reverse("pipeline:deal_lose", args=[deal.pk])


def text(response) -> str:
    return response.content.decode()


def card_html(body: str, deal) -> str:
    start = body.rindex("<article", 0, body.index(f'id="deal-{deal.pk}"'))
    return body[start : body.index("</article>", start)]


def column_html(body: str, stage) -> str:
    start = body.index(f'<section class="sf-column')
    start = body.index(f'data-stage-id="{stage.pk}"', start)
    return body[start : body.index("</section>", start)]


# --- The board -------------------------------------------------------------------------------


def test_board_full_page_has_every_stage_and_the_cards(rep_client, rep, stages):
    DealFactory(owner=rep, stage=stages["Meeting & demo"], title="Data migration", next_step="Call the CFO")
    response = rep_client.get(reverse("pipeline:board"))
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body and 'id="sf-board"' in body
    for name in stages:
        assert f'id="col-title-{stages[name].pk}"' in body
    assert "Data migration" in body and "Call the CFO" in body
    assert "HX-Request" in response["Vary"]


def test_board_htmx_request_gets_only_the_board_partial(rep_client, rep, stages):
    DealFactory(owner=rep, stage=stages["Offer"], title="Pilot project")
    response = rep_client.get(reverse("pipeline:board"), {"q": "pilot"}, **HTMX)
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body and "<nav" not in body
    title, board = body.split("</title>", 1)
    assert title.strip() == "<title>Board · New business · Stageflow"
    assert board.lstrip().startswith('<div id="sf-board"')
    assert "Pilot project" in body


def test_board_htmx_filter_swap_names_the_chosen_pipeline_in_the_tab_title(rep_client, rep, stages, other_pipeline):
    response = rep_client.get(reverse("pipeline:board"), {"pipeline": other_pipeline.pk}, **HTMX)
    body = text(response)
    # htmx sets the document title from a <title> at the root of a swapped response.
    assert body.lstrip().startswith("<title>Board · Upsell · Stageflow</title>")
    assert body.count("<title>") == 1
    full = text(rep_client.get(reverse("pipeline:board"), {"pipeline": other_pipeline.pk}))
    assert full.count("<title>") == 1 and "<title>Board · Upsell · Stageflow</title>" in full


def test_board_offers_csv_and_excel_exports_of_the_filtered_board(rep_client, rep, stages, other_pipeline):
    params = {"pipeline": other_pipeline.pk, "owner": rep.pk, "q": "fjord", "close_from": "2027-01-01", "close_to": "2027-03-31"}
    body = text(rep_client.get(reverse("pipeline:board"), params))
    query = "?pipeline={pipeline}&amp;owner={owner}&amp;q=fjord&amp;close_from=2027-01-01&amp;close_to=2027-03-31".format(**params)
    assert f'href="{reverse("exports:board_csv")}{query}"' in body
    assert f'href="{reverse("exports:board_xlsx")}{query}"' in body
    # A filter change through htmx swaps the board and sends the links again, with the new filters.
    swapped = text(rep_client.get(reverse("pipeline:board"), {"q": "acme"}, **HTMX))
    export = swapped[swapped.index('<div class="sf-export"') :]
    assert 'hx-swap-oob="outerHTML"' in export.split(">", 1)[0]
    pipeline = Pipeline.objects.get(is_default=True)
    assert f'href="{reverse("exports:board_csv")}?q=acme&amp;pipeline={pipeline.pk}"' in export


def test_the_board_export_links_download_what_the_board_shows(rep_client, rep, stages):
    DealFactory(owner=rep, stage=stages["Offer"], title="Fjord analytics", amount=Decimal("100"))
    DealFactory(owner=rep, stage=stages["Offer"], title="Other deal", amount=Decimal("100"))
    body = text(rep_client.get(reverse("pipeline:board"), {"q": "fjord"}))
    start = body.index(f'href="{reverse("exports:board_csv")}') + len('href="')
    link = body[start : body.index('"', start)].replace("&amp;", "&")
    csv = b"".join(rep_client.get(link).streaming_content).decode("utf-8-sig")
    assert "Fjord analytics" in csv and "Other deal" not in csv


def test_board_history_restore_gets_the_full_page(rep_client):
    response = rep_client.get(reverse("pipeline:board"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in text(response)


def test_column_header_totals_come_per_currency_and_are_never_added(rep_client, rep, stages):
    offer = stages["Offer"]
    DealFactory(owner=rep, stage=offer, amount=Decimal("1000.00"), currency="EUR")
    DealFactory(owner=rep, stage=offer, amount=Decimal("2000.00"), currency="EUR", probability=50)
    DealFactory(owner=rep, stage=offer, amount=Decimal("500.00"), currency="USD")
    response = rep_client.get(reverse("pipeline:board"))
    column = next(c for c in response.context["columns"] if c.stage == offer)
    assert column.count == 3
    totals = {t.currency: (t.count, t.total, t.weighted) for t in column.totals}
    # EUR: 1000 × 60 % + 2000 × 50 % (the deal's own probability) = 1600.
    assert totals == {"EUR": (2, Decimal("3000.00"), Decimal("1600.00")), "USD": (1, Decimal("500.00"), Decimal("300.00"))}
    body = text(response)
    assert "€3,000" in body and "$500" in body and "3,500" not in body


def test_weighted_totals_keep_the_cents_when_amounts_are_whole(rep_client, rep, stages):
    """Whole amounts and probabilities must not be divided as integers (SQLite stores whole
    decimals as integers): 1,001 × 25 % is 250.25, not 250."""
    offer = stages["Offer"]
    DealFactory(owner=rep, stage=offer, amount=Decimal("1001"), currency="EUR", probability=25)
    DealFactory(owner=rep, stage=offer, amount=Decimal("333"), currency="EUR", probability=33)
    response = rep_client.get(reverse("pipeline:board"))
    column = next(c for c in response.context["columns"] if c.stage == offer)
    (eur,) = column.totals
    assert eur.weighted == Decimal("360.14")  # 250.25 + 109.89


def test_column_totals_count_deals_without_amount_and_keep_cents(rep_client, rep, stages):
    offer = stages["Offer"]
    DealFactory(owner=rep, stage=offer, amount=Decimal("10.05"), currency="EUR", probability=15)
    DealFactory(owner=rep, stage=offer, amount=Decimal("0.99"), currency="EUR")  # the stage's 60 %
    DealFactory(owner=rep, stage=stages["Prospecting"], amount=None, currency="EUR")
    response = rep_client.get(reverse("pipeline:board"))
    columns = {c.stage.name: c for c in response.context["columns"]}
    (eur,) = columns["Offer"].totals
    assert (eur.count, eur.total, eur.weighted) == (2, Decimal("11.04"), Decimal("2.10"))  # 1.5075 + 0.594
    (empty,) = columns["Prospecting"].totals
    assert (empty.count, empty.total, empty.weighted) == (1, Decimal("0.00"), Decimal("0.00"))


def test_a_column_header_shows_no_zero_total_for_a_currency_whose_deals_have_no_amount(rep_client, rep, stages):
    # "$0 · weighted $0" beside the euro total said nothing; the deals still count.
    prospecting = stages["Prospecting"]
    DealFactory(owner=rep, stage=prospecting, amount=Decimal("500.00"), currency="EUR")
    DealFactory(owner=rep, stage=prospecting, amount=None, currency="USD")
    DealFactory(owner=rep, stage=stages["Qualification"], amount=None, currency="USD")
    response = rep_client.get(reverse("pipeline:board"))
    columns = {c.stage.name: c for c in response.context["columns"]}
    assert columns["Prospecting"].count == 2 and [t.currency for t in columns["Prospecting"].amount_totals] == ["EUR"]
    assert columns["Qualification"].count == 1 and columns["Qualification"].amount_totals == []
    body = text(response)
    head = body[body.index(f'id="col-head-{prospecting.pk}"'):]
    head = head[: head.index("</header>")]
    assert "€500" in head and "$0" not in head
    head = body[body.index(f'id="col-head-{stages["Qualification"].pk}"'):]
    assert "No amount yet" in head[: head.index("</header>")]


def test_column_totals_are_the_exact_decimal_sums(rep, stages):
    """Whole amounts, cents, half cents after weighting, large amounts, no amount, overrides and
    the stage's probability: the database's sums (floats on SQLite, NUMERIC on PostgreSQL) give the
    figures of summing the deals in decimals."""
    import random

    from pipeline import selectors

    rnd = random.Random(5)
    for _ in range(200):
        kind = rnd.random()
        if kind < 0.1:
            amount = None
        elif kind < 0.4:
            amount = Decimal(rnd.randint(0, 10**6))
        elif kind < 0.6:
            amount = Decimal(rnd.randint(0, 10**4)) + Decimal("0.05")
        elif kind < 0.7:
            amount = Decimal(rnd.randint(10**9, 10**12 - 1)) + Decimal(rnd.randint(0, 99)) / 100
        else:
            amount = Decimal(rnd.randint(0, 10**8)) / 100
        DealFactory(
            owner=rep, stage=rnd.choice(list(stages.values())), amount=amount, currency=rnd.choice(["EUR", "USD"]),
            probability=rnd.choice([None, None, 0, 1, 15, 33, 50, 99, 100]),
        )
    expected = {}
    for deal in Deal.objects.select_related("stage"):
        count, total, weighted = expected.get((deal.stage_id, deal.currency), (0, Decimal(0), Decimal(0)))
        if deal.amount is not None:
            probability = deal.probability if deal.probability is not None else deal.stage.probability
            total, weighted = total + deal.amount, weighted + deal.amount * probability / 100
        expected[(deal.stage_id, deal.currency)] = (count + 1, total, weighted)
    cent = Decimal("0.01")
    totals = selectors.column_totals(Deal.objects.all())
    assert {(stage_id, t.currency): (t.count, t.total, t.weighted) for stage_id, ts in totals.items() for t in ts} == {
        key: (count, total.quantize(cent), weighted.quantize(cent)) for key, (count, total, weighted) in expected.items()
    }


def test_board_shows_won_deals_in_the_won_column_and_hides_lost_ones(rep_client, rep, stages):
    DealFactory(owner=rep, stage=stages["Retention"], status=DealStatus.WON, title="Signed deal")
    DealFactory(owner=rep, stage=stages["Offer"], status=DealStatus.LOST, lost_reason=lost_reason(), title="Gone deal")
    response = rep_client.get(reverse("pipeline:board"))
    won = next(c for c in response.context["columns"] if c.stage == stages["Retention"])
    assert [d.title for d in won.cards] == ["Signed deal"]
    assert "Gone deal" not in text(response)


def test_card_shows_owner_initials_days_in_stage_and_a_rotting_mark(rep_client, rep, stages):
    rep.first_name, rep.last_name = "Rita", "Roth"
    rep.save()
    DealFactory(
        owner=rep, stage=stages["Prospecting"], title="Old deal", stage_entered_at=timezone.now() - timedelta(days=20)
    )
    DealFactory(owner=rep, stage=stages["Prospecting"], title="Fresh deal")
    body = text(rep_client.get(reverse("pipeline:board")))
    old = card_html(body, Deal.objects.get(title="Old deal"))
    fresh = card_html(body, Deal.objects.get(title="Fresh deal"))
    assert "is-rotting" in old and "Rotting" in old and "20 days in stage" in old
    assert ">RR<" in old and "Owner: Rita Roth" in old
    assert "Rotting" not in fresh and "In stage since today" in fresh


def test_card_texts_follow_the_language(rep_client, rep, stages):
    """The card's texts are in the page's language."""
    rep.first_name, rep.last_name = "Rita", "Roth"
    rep.save()
    deal = DealFactory(
        owner=rep, stage=stages["Prospecting"], amount=None, stage_entered_at=timezone.now() - timedelta(days=3)
    )
    german = card_html(text(rep_client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="de")), deal)
    english = card_html(text(rep_client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="en")), deal)
    assert "3 Tage in der Phase" in german and "Verantwortlich: Rita Roth" in german
    assert "3 days in stage" in english and "Owner: Rita Roth" in english and "No amount" in english
    assert "No amount" not in german


SCRIPT = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def test_cards_and_headers_escape_what_users_entered_on_the_board_in_moves_and_more_pages(rep_client, rep, stages):
    """Every value a user entered is HTML-escaped on the cards and column headers: on the board, in a
    move's response and on a "Load more" page."""
    rep.first_name, rep.last_name = "<b>Rita", "Roth</b>"
    rep.save()
    organization = OrganizationFactory(name=f"{SCRIPT} & Sons")
    deal = DealFactory(
        owner=rep, organization=organization, stage=stages["Prospecting"], title=f"{SCRIPT} 'big' deal", next_step=f"Call {SCRIPT}"
    )

    def assert_escaped(card):
        assert "<script>" not in card and "<b>" not in card
        assert f">{ESCAPED} &#x27;big&#x27; deal</a>" in card
        assert f'<div class="sf-card-organization">{ESCAPED} &amp; Sons' in card
        assert f"Call {ESCAPED}</div>" in card
        assert 'title="&lt;b&gt;Rita Roth&lt;/b&gt;"' in card

    assert_escaped(card_html(text(rep_client.get(reverse("pipeline:board"))), deal))
    DealFactory(owner=rep, stage=stages["Prospecting"])  # newer: the escaped card is second in its column
    more = rep_client.get(reverse("pipeline:board"), {"stage": stages["Prospecting"].pk, "offset": 1}, **HTMX)
    assert_escaped(card_html(text(more), deal))
    target = stages["Qualification"]
    target.name = f"Qualified {SCRIPT}"
    target.save()
    board = text(rep_client.get(reverse("pipeline:board")))
    assert f'<h2 class="sf-col-title" id="col-title-{target.pk}">Qualified {ESCAPED}</h2>' in board
    # The columns' "Move to…" menus name it too.
    assert f'aria-hidden="true"></span>Qualified {ESCAPED}</button>' in board
    assert f"Qualified {SCRIPT}" not in board
    moved = rep_client.post(move_url(deal), {"stage": target.pk, "version": 1}, **HTMX)
    body = text(moved)
    assert_escaped(card_html(body[body.index("<article") :], deal))
    assert "<script>" not in body
    assert f'id="col-head-{target.pk}" hx-swap-oob="outerHTML"' in body and f"Qualified {ESCAPED}</h2>" in body


def test_other_apps_add_to_the_bottom_of_cards_through_templates_and_data_loaders(rep_client, rep, stages, monkeypatch):
    """pipeline.extensions: a registered template ends up at the bottom of every card, before the
    "Move to…" menu, with the values the app's card data loader set once for all the cards."""
    from pipeline import extensions

    loaded = []

    def loader(cards):
        loaded.append(len(cards))
        for card in cards:
            card.next_activity_title = f"Loaded for {card.pk}"
            card.next_activity_due = timezone.now() + timedelta(days=2)

    monkeypatch.setattr(extensions, "_card_data_loaders", {"test": loader})
    monkeypatch.setattr(extensions, "_card_templates", ["activities/_card.html"])
    first, second = (DealFactory(owner=rep, stage=stages["Prospecting"]) for _ in range(2))
    body = text(rep_client.get(reverse("pipeline:board")))
    assert loaded == [2]
    for deal in (first, second):
        card = card_html(body, deal)
        extra = card.index(f"Loaded for {deal.pk}")
        assert card.index("sf-card-organization") < extra < card.index('<div class="sf-move">')


def test_board_filters_live_in_the_url(rep_client, rep, teammate, stages):
    DealFactory(owner=rep, stage=stages["Offer"], title="Mine closing soon", expected_close=date(2026, 12, 10))
    DealFactory(owner=teammate, stage=stages["Offer"], title="Sam's deal", expected_close=date(2027, 3, 1))
    DealFactory(owner=rep, stage=stages["Offer"], title="Mine later", expected_close=date(2027, 5, 1))
    url = reverse("pipeline:board")

    def titles(**params):
        response = rep_client.get(url, params)
        return sorted(d.title for c in response.context["columns"] for d in c.cards)

    assert titles() == ["Mine closing soon", "Mine later", "Sam's deal"]
    assert titles(owner=teammate.pk) == ["Sam's deal"]
    assert titles(q="later") == ["Mine later"]
    assert titles(close_from="2027-01-01", close_to="2027-04-01") == ["Sam's deal"]
    assert titles(owner=rep.pk, close_to="2027-01-01") == ["Mine closing soon"]


def test_board_owner_choices_are_the_people_the_user_may_see(rep_client, rep, teammate, outsider):
    response = rep_client.get(reverse("pipeline:board"))
    choices = {value for value, _ in response.context["form"].fields["owner"].choices}
    assert {rep.pk, teammate.pk} <= choices and outsider.pk not in choices


def test_board_refuses_an_inverted_close_range_with_a_message(rep_client):
    response = rep_client.get(reverse("pipeline:board"), {"close_from": "2027-02-01", "close_to": "2027-01-01"})
    assert response.status_code == 200
    assert "The end of the range lies before its start." in text(response)


def test_board_shows_the_chosen_pipeline_and_falls_back_to_the_default(rep_client, rep, pipeline, other_pipeline):
    idea = other_pipeline.stages.get()
    DealFactory(owner=rep, stage=idea, title="Upsell idea")
    response = rep_client.get(reverse("pipeline:board"), {"pipeline": other_pipeline.pk})
    assert [c.stage.name for c in response.context["columns"]] == ["Idea"]
    assert "Upsell idea" in text(response)
    response = rep_client.get(reverse("pipeline:board"), {"pipeline": "99999"})
    assert response.context["pipeline"] == pipeline


def test_each_column_shows_a_first_page_and_loads_more(rep_client, rep, stages, settings):
    settings.STAGEFLOW = {**settings.STAGEFLOW, "BOARD_PAGE_SIZE": 3}
    qual = stages["Qualification"]
    now = timezone.now()
    for i in range(5):
        DealFactory(owner=rep, stage=qual, title=f"Deal number {i}", stage_entered_at=now - timedelta(hours=i))
    url = reverse("pipeline:board")
    response = rep_client.get(url)
    column = next(c for c in response.context["columns"] if c.stage == qual)
    assert [d.title for d in column.cards] == ["Deal number 0", "Deal number 1", "Deal number 2"]
    assert column.count == 5
    body = text(response)
    assert f"stage={qual.pk}&amp;offset=3" in body and "Load more" in body

    more = rep_client.get(url, {"pipeline": qual.pipeline_id, "stage": qual.pk, "offset": 3}, **HTMX)
    body = text(more)
    assert f'hx-swap-oob="beforeend:#cards-{qual.pk}"' in body
    assert "Deal number 3" in body and "Deal number 4" in body and "Deal number 2" not in body
    assert "Load more" not in body

    # Without JavaScript the same link reloads the page with the column longer.
    full = rep_client.get(url, {"stage": qual.pk, "offset": 3})
    column = next(c for c in full.context["columns"] if c.stage == qual)
    assert len(column.cards) == 5 and not column.has_more


def test_every_card_offers_only_the_moves_the_transition_table_allows(rep_client, rep, stages, pipeline):
    Transition.objects.filter(pipeline=pipeline).delete()
    Transition.objects.create(pipeline=pipeline, from_stage=stages["Prospecting"], to_stage=stages["Qualification"])
    DealFactory(owner=rep, stage=stages["Prospecting"])
    body = text(rep_client.get(reverse("pipeline:board")))
    # Every card of a column shares the column's "Move to…" menu (board.js copies it into a card).
    column = column_html(body, stages["Prospecting"])
    menu = column[column.index('<template class="sf-move-template">') :].split("</template>")[0]
    assert f'name="stage" value="{stages["Qualification"].pk}"' in menu
    assert f'name="stage" value="{stages["Offer"].pk}"' not in menu
    assert "Mark lost…" in menu


@pytest.mark.parametrize(
    "rows",
    [
        [("Prospecting", "Qualification")],
        [(None, "Offer"), ("Prospecting", "Qualification"), ("Qualification", "Prospecting")],
        [(None, "Prospecting"), (None, "Retention"), ("Negotiation", "Negotiation")],
        [],
    ],
    ids=["one-row", "any-stage-and-back", "any-stage-into-itself", "none"],
)
def test_the_boards_move_menus_follow_the_same_rule_as_the_move_service(pipeline, stages, rows):
    """The board reads the allowed moves with the stages it holds (selectors.move_targets, one
    query); they must be exactly the moves the move service accepts (services.transition_find,
    which deal_move checks), and what services.allowed_target_ids gives."""
    from pipeline import selectors, services

    Transition.objects.filter(pipeline=pipeline).delete()
    for source, target in rows:
        Transition.objects.create(pipeline=pipeline, from_stage=stages[source] if source else None, to_stage=stages[target])
    board_stages = list(pipeline.stages.order_by("position", "pk"))
    allowed = services.allowed_target_ids(pipeline=pipeline)
    targets = selectors.move_targets(pipeline_id=pipeline.pk, stages=board_stages)
    assert set(targets) == {s.pk for s in board_stages}
    for stage in board_stages:
        accepted = [
            s.pk for s in board_stages
            if s.pk != stage.pk and services.transition_find(from_stage=stage, to_stage=s) is not None
        ]
        assert [s.pk for s in targets[stage.pk]] == accepted
        assert [s.pk for s in targets[stage.pk]] == [s.pk for s in board_stages if s.pk in allowed[stage.pk]]
        assert stage not in targets[stage.pk]


def test_a_card_is_small_and_carries_no_form_of_its_own(rep_client, rep, stages):
    """Hundreds of cards make the board: the move menu, its form and the icons are the page's or
    the column's, not repeated per card."""
    deal = DealFactory(owner=rep, stage=stages["Qualification"], title="Small card", next_step="Call back")
    body = text(rep_client.get(reverse("pipeline:board")))
    card = card_html(body, deal)
    assert "<form" not in card and "csrfmiddlewaretoken" not in card and "<svg" not in card
    assert f'href="/pipeline/deals/{deal.pk}/"' in card and 'data-version="1"' in card
    assert "Move to…" in card
    assert len(card.encode()) < 1000


# --- Moving a deal ---------------------------------------------------------------------------


def test_htmx_move_rerenders_the_card_and_both_headers_from_the_database(rep_client, rep, deal, stages):
    DealFactory(owner=rep, stage=stages["Qualification"], amount=Decimal("250.00"))
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and deal.version == 2
    body = text(response)
    assert f'<div id="deal-{deal.pk}" hx-swap-oob="delete"></div>' in body
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Qualification"].pk}"' in body
    assert f'data-version="2"' in body
    heads = response.context["headers"]
    assert {(h.stage.name, h.count) for h in heads} == {("Prospecting", 0), ("Qualification", 2)}
    assert heads[1].totals[0].total == Decimal("1250.00")
    assert f'id="col-head-{stages["Prospecting"].pk}" hx-swap-oob="outerHTML"' in body
    assert "moved to Qualification" in body


def test_move_headers_follow_the_board_filters_sent_along(rep_client, rep, teammate, deal, stages):
    DealFactory(owner=teammate, stage=stages["Qualification"], amount=Decimal("999.00"))
    response = rep_client.post(
        move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "owner": rep.pk}, **HTMX
    )
    qual = next(h for h in response.context["headers"] if h.stage == stages["Qualification"])
    assert qual.count == 1 and qual.totals[0].total == Decimal("1000.00")


def test_plain_form_move_redirects_back_with_a_message(rep_client, deal, stages):
    back = reverse("pipeline:board") + "?q=deal"
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "next": back})
    assert response.status_code == 302 and response["Location"] == back
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"]
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [f"“{deal.title}” moved to Qualification."]


def test_move_never_redirects_to_another_site(rep_client, deal, stages):
    response = rep_client.post(
        move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "next": "https://evil.example/"}
    )
    assert response["Location"].startswith("/pipeline/")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": 1}, "Choose the stage to move this deal to."),
        ({"stage": "", "version": 1}, "Choose the stage to move this deal to."),
        ({"stage": "abc", "version": 1}, "This stage does not exist."),
        ({"stage": 999999, "version": 1}, "This stage does not exist."),
        ({"stage": "QUAL"}, "The deal&#x27;s version is missing. Reload the page and try again."),
        ({"stage": "QUAL", "version": "x"}, "The deal&#x27;s version is not valid. Reload the page and try again."),
        ({"stage": "QUAL", "version": 0}, "The deal&#x27;s version is not valid. Reload the page and try again."),
    ],
    ids=["missing-stage", "empty-stage", "non-numeric-stage", "unknown-stage", "missing-version", "bad-version", "zero-version"],
)
def test_bad_move_input_is_a_400_with_a_message(rep_client, deal, stages, data, message, htmx):
    data = {k: (stages["Qualification"].pk if v == "QUAL" else v) for k, v in data.items()}
    response = rep_client.post(move_url(deal), data, **(HTMX if htmx else {}))
    assert response.status_code == 400
    assert message in text(response)
    deal.refresh_from_db()
    assert deal.stage == stages["Prospecting"] and deal.version == 1


def test_move_to_a_stage_of_another_pipeline_is_a_400(rep_client, deal, other_pipeline):
    response = rep_client.post(move_url(deal), {"stage": other_pipeline.stages.get().pk, "version": 1}, **HTMX)
    assert response.status_code == 400
    assert "“Idea” belongs to another pipeline." in text(response)


def test_move_refused_by_entry_rules_is_a_400_with_the_reason(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Meeting & demo"], amount=None)
    response = rep_client.post(move_url(deal), {"stage": stages["Offer"].pk, "version": 1}, **HTMX)
    assert response.status_code == 400
    body = text(response)
    assert "To enter “Offer”, this deal needs an amount." in body
    assert 'hx-swap-oob="beforeend:#sf-toasts"' in body and 'role="alert"' in body
    deal.refresh_from_db()
    assert deal.stage == stages["Meeting & demo"]


def test_stale_move_is_a_409_that_shows_the_current_state(rep_client, rep, deal, stages):
    from pipeline import services

    services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)  # someone else, meanwhile
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    assert response.status_code == 409
    body = text(response)
    assert "Someone changed this deal in the meantime." in body
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Meeting & demo"].pk}"' in body
    assert 'data-version="2"' in body
    deal.refresh_from_db()
    assert deal.stage == stages["Meeting & demo"]


def test_stale_plain_form_move_is_a_409_page(rep_client, rep, deal, stages):
    from pipeline import services

    services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1})
    assert response.status_code == 409
    assert "Someone changed this deal in the meantime." in text(response)


def test_moving_an_unknown_deal_is_a_404(rep_client, stages):
    response = rep_client.post(reverse("pipeline:deal_move", args=[424242]), {"stage": stages["Offer"].pk, "version": 1})
    assert response.status_code == 404


def test_moving_a_deal_the_user_may_not_see_is_a_404(rep_client, outsider, stages):
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    response = rep_client.post(move_url(hidden), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    assert response.status_code == 404
    hidden.refresh_from_db()
    assert hidden.stage == stages["Prospecting"]


def test_moving_a_teammates_deal_is_a_403(rep_client, teammate, stages):
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    response = rep_client.post(move_url(theirs), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    assert response.status_code == 403
    theirs.refresh_from_db()
    assert theirs.stage == stages["Prospecting"]


def test_a_refused_htmx_move_of_a_teammates_deal_answers_with_the_boards_toast(rep_client, teammate, stages):
    """Not Django's bare 403 page, which django-htmx puts in place of the board under DEBUG."""
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    response = rep_client.post(move_url(theirs), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    assert response.status_code == 403
    assert response["X-Stageflow-Refusal"] == "1"
    body = text(response)
    assert 'hx-swap-oob="beforeend:#sf-toasts"' in body and 'role="alert"' in body
    assert "You can see this deal but not change it." in body
    assert "<html" not in body


def test_a_refused_htmx_lose_or_reopen_of_a_hidden_deal_answers_with_the_boards_toast(rep_client, outsider, stages):
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    for url, data in ((lose_url(hidden), {"reason": lost_reason().pk, "version": 1}),
                      (reverse("pipeline:deal_reopen", args=[hidden.pk]), {"version": 1})):
        response = rep_client.post(url, data, **HTMX)
        assert response.status_code == 404
        assert response["X-Stageflow-Refusal"] == "1"
        assert "No such deal, or it is not yours to see." in text(response)


def test_the_board_shows_a_teammates_card_read_only_without_a_move_menu(rep_client, rep, teammate, stages):
    mine = DealFactory(owner=rep, stage=stages["Prospecting"], title="Mine")
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"], title="Sam's")
    body = text(rep_client.get(reverse("pipeline:board")))
    card = card_html(body, theirs)
    assert "is-readonly" in card and 'data-readonly="1"' in card
    assert f'aria-describedby="deal-{theirs.pk}-readonly"' in card
    assert f'id="deal-{theirs.pk}-readonly"' in card and "Read-only" in card
    assert "You can see this deal but not change it." in card
    assert "sf-move" not in card and "Move to…" not in card
    own = card_html(body, mine)
    assert "is-readonly" not in own and "data-readonly" not in own and "Move to…" in own


def test_a_manager_sees_the_teams_cards_changeable(client, manager, teammate, stages):
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"], title="Sam's")
    client.force_login(manager)
    card = card_html(text(client.get(reverse("pipeline:board"))), theirs)
    assert "is-readonly" not in card and "Move to…" in card


def test_move_only_accepts_post(rep_client, deal):
    assert rep_client.get(move_url(deal)).status_code == 405


# --- Lost and reopen -------------------------------------------------------------------------


def test_lost_toast_offers_an_undo_that_reopens_the_deal_through_the_reopen_view(rep_client, deal, stages):
    response = rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 1}, **HTMX)
    reopen = reverse("pipeline:deal_reopen", args=[deal.pk])
    undo = response.context["toasts"][0]["undo"]
    assert undo == {"url": reopen, "version": 2, "label": f"Undo: reopen “{deal.title}”"}
    body = text(response)
    form = body[body.index('<form class="sf-undo-form"') : body.index("</form>", body.index('<form class="sf-undo-form"'))]
    assert f'hx-post="{reopen}"' in form and f'action="{reopen}"' in form
    assert 'name="version" value="2"' in form and 'name="stage"' not in form
    assert f'aria-label="{escape(undo["label"])}"' in form

    response = rep_client.post(reopen, {"version": undo["version"], "undo": "1"}, **HTMX)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.stage == stages["Prospecting"] and deal.lost_reason is None
    body = text(response)
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Prospecting"].pk}"' in body and f'id="deal-{deal.pk}"' in body
    assert f"“{deal.title}” is open again." in body


def test_the_lost_undo_is_refused_after_a_later_change(rep_client, deal, stages):
    rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 1}, **HTMX)
    reopen = reverse("pipeline:deal_reopen", args=[deal.pk])
    rep_client.post(reopen, {"version": 2}, **HTMX)  # reopened meanwhile (version 3)
    response = rep_client.post(reopen, {"version": 2, "undo": "1"}, **HTMX)
    assert response.status_code == 409
    deal.refresh_from_db()
    assert deal.version == 3


def test_htmx_lose_marks_the_deal_lost_and_removes_the_card(rep_client, deal, stages):
    reason = lost_reason()
    response = rep_client.post(lose_url(deal), {"reason": reason.pk, "note": "Went with a rival", "version": 1}, **HTMX)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.lost_reason == reason and deal.lost_note == "Went with a rival"
    body = text(response)
    assert f'<div id="deal-{deal.pk}" hx-swap-oob="delete"></div>' in body
    assert "afterbegin" not in body
    assert [(h.stage, h.count) for h in response.context["headers"]] == [(stages["Prospecting"], 0)]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": 1}, "Choose why this deal was lost."),
        ({"reason": 424242, "version": 1}, "Choose one of the listed reasons."),
        ({"reason": "REASON"}, "The deal&#x27;s version is missing."),
    ],
    ids=["no-reason", "unknown-reason", "no-version"],
)
def test_bad_lose_input_is_a_400_with_a_message(rep_client, deal, data, message):
    data = {k: (lost_reason().pk if v == "REASON" else v) for k, v in data.items()}
    response = rep_client.post(lose_url(deal), data, **HTMX)
    assert response.status_code == 400 and message in text(response)
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_an_inactive_lost_reason_is_refused(rep_client, deal):
    reason = LostReason.objects.create(name="Old reason", is_active=False)
    response = rep_client.post(lose_url(deal), {"reason": reason.pk, "version": 1}, **HTMX)
    assert response.status_code == 400


def test_stale_lose_is_a_409(rep_client, deal):
    response = rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 7}, **HTMX)
    assert response.status_code == 409


def test_plain_lose_and_reopen_return_to_the_deal_page(rep_client, deal):
    response = rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 1})
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    response = rep_client.post(reverse("pipeline:deal_reopen", args=[deal.pk]), {"version": 2})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.lost_reason is None


def test_htmx_reopen_puts_the_card_back_on_the_board(rep_client, deal, stages):
    rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 1})
    response = rep_client.post(reverse("pipeline:deal_reopen", args=[deal.pk]), {"version": 2}, **HTMX)
    assert response.status_code == 200
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Prospecting"].pk}"' in text(response)


def test_reopen_with_a_stale_version_is_a_409(rep_client, deal):
    rep_client.post(lose_url(deal), {"reason": lost_reason().pk, "version": 1})
    response = rep_client.post(reverse("pipeline:deal_reopen", args=[deal.pk]), {"version": 1}, **HTMX)
    assert response.status_code == 409


def test_losing_a_teammates_deal_is_a_403_and_a_hidden_one_a_404(rep_client, teammate, outsider, stages):
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    data = {"reason": lost_reason().pk, "version": 1}
    assert rep_client.post(lose_url(theirs), data).status_code == 403
    assert rep_client.post(lose_url(hidden), data).status_code == 404
    assert rep_client.post(reverse("pipeline:deal_reopen", args=[hidden.pk]), {"version": 1}).status_code == 404


# --- Quick add -------------------------------------------------------------------------------


def quick_add_url(stage):
    return reverse("pipeline:deal_quick_add", args=[stage.pk])


def test_quick_add_creates_the_deal_and_a_new_organization_by_name(rep_client, rep, stages):
    response = rep_client.post(
        quick_add_url(stages["Qualification"]), {"title": "Team licence", "company": "Brand New GmbH", "amount": "1200"}, **HTMX
    )
    assert response.status_code == 200
    deal = Deal.objects.get(title="Team licence")
    assert deal.stage == stages["Qualification"] and deal.owner == rep and deal.amount == Decimal("1200.00")
    assert deal.organization.name == "Brand New GmbH" and deal.organization.owner == rep
    body = text(response)
    assert f'hx-swap-oob="afterbegin:#cards-{stages["Qualification"].pk}"' in body
    assert f'id="col-head-{stages["Qualification"].pk}" hx-swap-oob="outerHTML"' in body
    assert body.lstrip().startswith(f'<details class="sf-quick-add" id="quick-add-{stages["Qualification"].pk}"')


def test_quick_add_amount_is_a_text_input_that_opens_the_numeric_keyboard(rep_client, stages):
    """A number input turns "1.234,56" into 1.23456 in the browser: the amount is typed as text."""
    body = text(rep_client.get(reverse("pipeline:board"), HTTP_ACCEPT_LANGUAGE="de"))
    stage = stages["Prospecting"]
    start = body.index(f'id="qa-{stage.pk}-amount"')
    amount = body[body.rindex("<input", 0, start) : body.index(">", start)]
    assert 'type="text"' in amount and 'inputmode="decimal"' in amount
    assert 'type="number"' not in amount and "step=" not in amount


@pytest.mark.parametrize(("language", "typed"), [("de", "1.234,56"), ("en", "1,234.56"), ("de", "1234,56"), ("en", "1234.56")])
def test_quick_add_reads_the_amount_as_the_language_writes_it(rep_client, stages, language, typed):
    response = rep_client.post(
        quick_add_url(stages["Offer"]), {"title": "Localized", "company": "Zahl GmbH", "amount": typed},
        HTTP_ACCEPT_LANGUAGE=language, **HTMX,
    )
    assert response.status_code == 200
    assert Deal.objects.get(title="Localized").amount == Decimal("1234.56")


def test_quick_add_reuses_a_visible_organization_with_the_same_name(rep_client, stages):
    organization = OrganizationFactory(name="Acme Logistics")
    rep_client.post(quick_add_url(stages["Prospecting"]), {"title": "Second deal", "company": "acme logistics"}, **HTMX)
    assert Deal.objects.get(title="Second deal").organization == organization
    assert Organization.objects.filter(name__iexact="acme logistics").count() == 1


def test_quick_add_shows_entry_rule_refusals_inline_and_creates_nothing(rep_client, stages):
    response = rep_client.post(quick_add_url(stages["Offer"]), {"title": "No amount", "company": "Ghost Corp"}, **HTMX)
    assert response.status_code == 400
    body = text(response)
    assert "To enter “Offer”, this deal needs an amount." in body and 'role="alert"' in body
    assert not Deal.objects.filter(title="No amount").exists()
    assert not Organization.objects.filter(name="Ghost Corp").exists()


def test_quick_add_needs_a_title_and_a_company(rep_client, stages):
    response = rep_client.post(quick_add_url(stages["Prospecting"]), {"title": "", "company": ""}, **HTMX)
    assert response.status_code == 400
    body = text(response)
    assert "Give the deal a title." in body and "Name the company (an existing lead or a new one)." in body


def test_quick_add_keeps_what_was_typed_escaped_with_each_error_next_to_its_field(rep_client, stages):
    """What the user typed in the quick-add form comes back escaped, and each error is tied to its
    input."""
    stage = stages["Prospecting"]
    response = rep_client.post(quick_add_url(stage), {"title": SCRIPT, "company": "", "amount": "-5"}, **HTMX)
    assert response.status_code == 400
    body = text(response)
    assert "<script>" not in body and f'value="{ESCAPED}" required>' in body
    assert f'id="qa-{stage.pk}-company" name="company"' in body
    assert f'required aria-describedby="qa-{stage.pk}-company-err">' in body
    assert f'<div class="invalid-feedback" id="qa-{stage.pk}-company-err">Name the company' in body
    assert f'value="-5" aria-describedby="qa-{stage.pk}-amount-err">' in body
    assert f'<div class="invalid-feedback d-block" id="qa-{stage.pk}-amount-err">' in body
    assert f'<details class="sf-quick-add" id="quick-add-{stage.pk}" open>' in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_quick_add_without_javascript_redirects_to_the_board(rep_client, stages):
    response = rep_client.post(quick_add_url(stages["Prospecting"]), {"title": "Plain", "company": "Plain AG"})
    assert response.status_code == 302
    assert Deal.objects.filter(title="Plain").exists()


# --- The deal page ---------------------------------------------------------------------------


def test_deal_page_shows_stage_and_field_history_in_one_chronological_list_newest_first(rep_client, rep, deal, stages):
    from pipeline import services

    services.deal_update(deal=deal, actor=rep, amount=Decimal("2500"))
    services.deal_move(deal=deal, to_stage=stages["Qualification"], actor=rep)
    response = rep_client.get(deal.get_absolute_url())
    assert response.status_code == 200
    kinds = [(e.kind, getattr(e.row, "field", None)) for e in response.context["history"]]
    assert kinds == [("stage", None), ("field", "amount"), ("stage", None)][::-1]
    body = text(response)
    assert "Created in <strong>Prospecting</strong>" in body
    assert "Amount: 1,000.00 → <strong>2,500.00</strong>" in body
    assert "Prospecting → <strong>Qualification</strong>" in body
    assert "in the previous stage" in body


def test_deal_page_of_a_hidden_or_unknown_deal_is_a_404(rep_client, outsider, stages):
    hidden = DealFactory(owner=outsider, stage=stages["Prospecting"])
    assert rep_client.get(hidden.get_absolute_url()).status_code == 404
    assert rep_client.get(reverse("pipeline:deal_detail", args=[424242])).status_code == 404


def test_a_teammates_deal_page_is_read_only(rep_client, teammate, stages):
    theirs = DealFactory(owner=teammate, stage=stages["Prospecting"])
    response = rep_client.get(theirs.get_absolute_url())
    assert response.status_code == 200 and response.context["form"] is None
    response = rep_client.post(theirs.get_absolute_url(), {"title": "Mine now", "version": 1})
    assert response.status_code == 403


def edit_data(deal, **changes):
    data = {
        "title": deal.title, "organization": deal.organization_id, "amount": deal.amount or "", "currency": deal.currency,
        "expected_close": deal.expected_close or "", "probability": "", "next_step": deal.next_step,
        "owner": deal.owner_id, "version": deal.version,
    }
    data.update(changes)
    return data


def test_editing_a_deal_records_its_changes(rep_client, deal):
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, amount="4000", expected_close="2027-01-31"))
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.amount == Decimal("4000.00") and deal.expected_close == date(2027, 1, 31) and deal.version == 2
    assert set(DealChange.objects.filter(deal=deal).values_list("field", flat=True)) == {"amount", "expected_close"}


def test_an_edit_conflict_shows_a_message_and_the_current_values(rep_client, rep, deal):
    from pipeline import services

    services.deal_update(deal=deal, actor=rep, title="Renamed meanwhile")
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, title="My title", version=1))
    assert response.status_code == 409
    body = text(response)
    assert "Someone changed this deal while you were editing it." in body
    assert response.context["form"]["title"].value() == "Renamed meanwhile"
    assert response.context["form"]["version"].value() == 2
    deal.refresh_from_db()
    assert deal.title == "Renamed meanwhile"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"title": ""}, "Give the deal a title."),
        ({"amount": "-5"}, "Ensure this value is greater than or equal to 0."),
        ({"probability": "150"}, "Ensure this value is less than or equal to 100."),
        ({"organization": ""}, "Choose the lead this deal belongs to."),
    ],
)
def test_invalid_edits_show_clear_messages(rep_client, deal, changes, message):
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, **changes))
    assert response.status_code == 400 and message in text(response)


# --- The lead field: typed, with suggestions, never a list of every lead --------------------------


def test_the_deal_page_does_not_list_every_organization_it_could_offer(rep_client, rep, deal):
    for i in range(30):
        OrganizationFactory(name=f"Pool company {i:02d}", owner=rep)
    body = text(rep_client.get(deal.get_absolute_url()))
    assert "Pool company" not in body  # no <option> per lead: suggestions come as the user types
    assert f'value="{escape(deal.organization.name)} (#{deal.organization_id})"' in body
    assert 'hx-get="/pipeline/organizations/lookup/"' in body


def test_organization_suggestions_come_from_the_organizations_the_user_may_see_names_starting_with_the_text_first(
    rep_client, rep, django_assert_max_num_queries
):
    OrganizationFactory(name="Big Acme AG", owner=rep)
    OrganizationFactory(name="Acme GmbH", owner=rep, website="https://acme.example")
    OrganizationFactory(name="Acme Secret", owner=UserFactory(username="olga", team=TeamFactory(name="South")))
    with django_assert_max_num_queries(6):
        body = text(rep_client.get(reverse("pipeline:organization_lookup"), {"q": "acme"}, **HTMX))
    assert body.index("Acme GmbH (#") < body.index("Big Acme AG (#") and "Acme Secret" not in body
    # The field sends its own value under its name.
    assert "Acme GmbH" in text(rep_client.get(reverse("pipeline:organization_lookup"), {"organization": "acme g"}, **HTMX))
    assert text(rep_client.get(reverse("pipeline:organization_lookup"), {"q": "  "})).strip() == ""


@pytest.mark.parametrize("typed", ["{name} (#{pk})", "{name}", "{upper}", "{pk}"])
def test_an_organization_is_chosen_by_its_suggestion_its_exact_name_or_its_id(rep_client, rep, deal, typed):
    other = OrganizationFactory(name="Zeta Systems", owner=rep)
    value = typed.format(name=other.name, pk=other.pk, upper=other.name.upper())
    assert rep_client.post(deal.get_absolute_url(), edit_data(deal, organization=value)).status_code == 302
    deal.refresh_from_db()
    assert deal.organization == other


def test_an_organization_the_user_may_not_see_or_a_name_two_organizations_share_is_refused_with_a_message(rep_client, rep, deal):
    hidden = OrganizationFactory(name="Hidden Corp", owner=UserFactory(username="olga", team=TeamFactory(name="South")))
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, organization=f"Hidden Corp (#{hidden.pk})"))
    assert response.status_code == 400 and "There is no company “Hidden Corp (#" in text(response)
    OrganizationFactory(name="Twin GmbH", owner=rep)
    OrganizationFactory(name="Twin GmbH", owner=rep)
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, organization="twin gmbh"))
    assert response.status_code == 400 and "Several companies are called “twin gmbh”" in text(response)
    deal.refresh_from_db()
    assert deal.organization.name not in ("Hidden Corp", "Twin GmbH")


def test_the_lost_form_and_the_edit_form_stay_closed_until_asked_for(rep_client, deal):
    body = text(rep_client.get(deal.get_absolute_url()))
    assert '<details class="sf-lose">' in body and '<details class="sf-panel sf-edit" id="edit">' in body
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, title=""))
    assert '<details class="sf-panel sf-edit" id="edit" open>' in text(response)


def test_an_edit_that_breaks_the_stage_rules_is_refused_with_the_reason(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Offer"])
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, amount=""))
    assert response.status_code == 400
    assert "A deal in “Offer” needs an amount." in text(response)


def test_deal_form_choices_respect_visibility(rep_client, rep, outsider, deal):
    hidden_organization = OrganizationFactory(owner=outsider)
    response = rep_client.get(deal.get_absolute_url())
    form = response.context["form"]
    assert hidden_organization not in form.fields["organization"].queryset
    assert list(form.fields["owner"].queryset) == [rep]
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, organization=hidden_organization.pk))
    assert response.status_code == 400
    response = rep_client.post(deal.get_absolute_url(), edit_data(deal, owner=outsider.pk))
    assert response.status_code == 400


# --- Creating deals --------------------------------------------------------------------------


def test_deal_create_page_with_a_new_company(rep_client, rep, stages):
    assert rep_client.get(reverse("pipeline:deal_create")).status_code == 200
    response = rep_client.post(
        reverse("pipeline:deal_create"),
        {"title": "Big one", "new_organization": "Fresh Lead AG", "stage": stages["Qualification"].pk, "owner": rep.pk,
         "currency": "USD", "amount": "9000"},
    )
    deal = Deal.objects.get(title="Big one")
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert deal.organization.name == "Fresh Lead AG" and deal.currency == "USD" and deal.stage == stages["Qualification"]
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_deal_create_explains_what_is_missing(rep_client, rep, organization, stages):
    url = reverse("pipeline:deal_create")
    response = rep_client.post(url, {"title": "X", "stage": stages["Prospecting"].pk, "owner": rep.pk, "currency": "EUR"})
    assert response.status_code == 400 and "Choose a lead or name a new company." in text(response)
    response = rep_client.post(
        url, {"title": "X", "organization": organization.pk, "stage": stages["Offer"].pk, "owner": rep.pk, "currency": "EUR"}
    )
    assert response.status_code == 400 and "To enter “Offer”, this deal needs an amount." in text(response)
    assert not Deal.objects.filter(title="X").exists()


# --- Lead pages ------------------------------------------------------------------------------


def test_organization_list_shows_only_visible_organizations(rep_client, rep, outsider):
    mine = OrganizationFactory(name="Mine Ltd", owner=rep)
    OrganizationFactory(name="Hidden Ltd", owner=outsider)
    response = rep_client.get(reverse("qualification:lead_list"))
    body = text(response)
    assert "Mine Ltd" in body and "Hidden Ltd" not in body
    response = rep_client.get(reverse("qualification:lead_list"), {"q": "mine"})
    assert list(response.context["page"]) == [mine]


def test_the_old_organization_list_address_leads_to_the_one_organization_list_with_its_search(rep_client):
    response = rep_client.get(reverse("pipeline:lead_list_moved"), {"q": "acme gmbh"})
    assert response.status_code == 302
    assert response["Location"] == reverse("qualification:lead_list") + "?q=acme+gmbh"


def test_organization_create_edit_and_detail(rep_client, rep, stages):
    response = rep_client.post(
        reverse("pipeline:organization_create"),
        {"name": "Neue Kunde GmbH", "country": "de", "source": "referral", "owner": rep.pk},
    )
    organization = Organization.objects.get(name="Neue Kunde GmbH")
    assert response.status_code == 302 and organization.country == "DE" and organization.owner == rep
    DealFactory(owner=rep, organization=organization, stage=stages["Offer"], title="Their first deal")
    assert "Their first deal" in text(rep_client.get(organization.get_absolute_url()))
    response = rep_client.post(
        reverse("pipeline:organization_edit", args=[organization.pk]),
        {"name": "Neue Kunde AG", "country": "DE", "source": "referral", "owner": rep.pk},
    )
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.name == "Neue Kunde AG"


def test_organization_form_explains_bad_input(rep_client, rep):
    response = rep_client.post(reverse("pipeline:organization_create"), {"name": "", "country": "Germany", "source": "other"})
    assert response.status_code == 400
    body = text(response)
    assert "Name the company." in body and "Use a two-letter country code such as DE." in body


def test_organization_pages_hide_and_protect_other_peoples_organizations(rep_client, teammate, outsider, stages):
    hidden = OrganizationFactory(owner=outsider)
    assert rep_client.get(hidden.get_absolute_url()).status_code == 404
    assert rep_client.get(reverse("pipeline:organization_edit", args=[hidden.pk])).status_code == 404
    theirs = OrganizationFactory(owner=teammate)
    DealFactory(owner=teammate, organization=theirs, stage=stages["Prospecting"])
    assert rep_client.get(theirs.get_absolute_url()).status_code == 200
    assert rep_client.get(reverse("pipeline:organization_edit", args=[theirs.pk])).status_code == 403


# --- Sign-in ---------------------------------------------------------------------------------

PIPELINE_URLS = [
    ("get", "pipeline:board", False),
    ("post", "pipeline:deal_quick_add", "stage"),
    ("get", "pipeline:deal_create", False),
    ("post", "pipeline:deal_create", False),
    ("get", "pipeline:deal_detail", "deal"),
    ("post", "pipeline:deal_detail", "deal"),
    ("post", "pipeline:deal_move", "deal"),
    ("post", "pipeline:deal_lose", "deal"),
    ("post", "pipeline:deal_reopen", "deal"),
    ("post", "pipeline:deal_snooze", "deal"),
    ("get", "pipeline:lead_list_moved", False),
    ("get", "pipeline:organization_list", False),
    ("get", "pipeline:organization_lookup", False),
    ("get", "pipeline:organization_create", False),
    ("post", "pipeline:organization_create", False),
    ("get", "pipeline:organization_detail", "organization"),
    ("get", "pipeline:organization_moved", "organization"),
    ("get", "pipeline:organization_edit", "organization"),
    ("post", "pipeline:organization_edit", "organization"),
    ("get", "pipeline:duplicates", False),
    ("get", "pipeline:organization_merge", "organization"),
    ("post", "pipeline:organization_merge", "organization"),
    ("get", "pipeline:person_merge", "person"),
    ("post", "pipeline:person_merge", "person"),
    ("get", "pipeline:person_data", "person"),
    ("get", "pipeline:person_data_json", "person"),
    ("get", "pipeline:person_erase", "person"),
    ("post", "pipeline:person_erase", "person"),
    ("post", "pipeline:deal_contact_add", "deal"),
    ("post", "pipeline:deal_contact_role", "deal_person"),
    ("post", "pipeline:deal_contact_remove", "deal_person"),
    ("get", "pipeline:person_list", False),
    ("get", "pipeline:person_lookup", False),
    ("get", "pipeline:person_create", False),
    ("post", "pipeline:person_create", False),
    ("get", "pipeline:person_detail", "person"),
    ("get", "pipeline:person_edit", "person"),
    ("post", "pipeline:person_edit", "person"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("method, name, arg", PIPELINE_URLS, ids=[f"{m}-{n}" for m, n, _ in PIPELINE_URLS])
def test_every_pipeline_url_requires_sign_in(client, deal, method, name, arg, htmx):
    person = deal.organization.main_contact_id
    args = {"deal": [deal.pk], "organization": [deal.organization_id], "stage": [deal.stage_id], "person": [person],
            "deal_person": [deal.pk, person], False: []}[arg]
    url = reverse(name, args=args)
    response = getattr(client, method)(url, **(HTMX if htmx else {}))
    if htmx:
        # HTMX requests are sent to the sign-in page as a whole (accounts.middleware).
        assert response.status_code == 204
        assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    deal.refresh_from_db()
    assert deal.version == 1


def test_every_pipeline_url_is_covered_by_the_sign_in_test():
    from pipeline.urls import urlpatterns

    assert {f"pipeline:{p.name}" for p in urlpatterns} == {name for _, name, _ in PIPELINE_URLS}


def test_deal_page_offers_the_next_stage_first(rep_client, rep, stages):
    deal = DealFactory(owner=rep, stage=stages["Qualification"])
    response = rep_client.get(deal.get_absolute_url())
    assert response.context["next_stage"] == stages["Meeting & demo"]
    assert f'<option value="{stages["Meeting & demo"].pk}" selected>' in text(response)


# --- Undo of the last move -------------------------------------------------------------------


def test_move_toast_offers_an_undo_that_moves_back_through_the_service(rep_client, rep, deal, stages):
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    undo = response.context["toasts"][0]["undo"]
    assert undo == {"url": move_url(deal), "stage": stages["Prospecting"].pk, "stage_name": "Prospecting", "version": 2,
                    "label": "Undo: move back to Prospecting"}
    body = text(response)
    assert f'hx-post="{move_url(deal)}"' in body and 'name="undo" value="1"' in body
    assert "Undo: move back to Prospecting" in body

    response = rep_client.post(move_url(deal), {"stage": undo["stage"], "version": undo["version"], "undo": "1"}, **HTMX)
    assert response.status_code == 200
    assert f"“{deal.title}” moved back to Prospecting." in text(response)
    deal.refresh_from_db()
    assert deal.stage == stages["Prospecting"] and deal.version == 3
    history = list(StageChange.objects.filter(deal=deal).order_by("pk").values_list("from_stage__name", "to_stage__name", "actor"))
    assert history[-2:] == [("Prospecting", "Qualification", rep.pk), ("Qualification", "Prospecting", rep.pk)]


def test_undo_is_refused_with_the_services_message_when_the_rules_forbid_the_way_back(rep_client, rep, deal, stages):
    Transition.objects.filter(to_stage=stages["Prospecting"]).delete()
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    undo = response.context["toasts"][0]["undo"]
    response = rep_client.post(move_url(deal), {"stage": undo["stage"], "version": undo["version"], "undo": "1"}, **HTMX)
    assert response.status_code == 400
    body = text(response)
    assert 'role="alert"' in body
    assert "Deals cannot move from “Qualification” to “Prospecting” in this pipeline." in body
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"] and deal.version == 2


def test_undo_after_someone_else_changed_the_deal_is_a_conflict(rep_client, rep, deal, stages):
    from pipeline import services

    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1}, **HTMX)
    undo = response.context["toasts"][0]["undo"]
    services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    response = rep_client.post(move_url(deal), {"stage": undo["stage"], "version": undo["version"], "undo": "1"}, **HTMX)
    assert response.status_code == 409
    deal.refresh_from_db()
    assert deal.stage == stages["Meeting & demo"]


def test_deal_page_move_shows_the_boards_toast_with_an_undo_that_comes_back_to_the_page(rep_client, rep, deal, stages):
    page = deal.get_absolute_url()
    response = rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert [str(m) for m in response.wsgi_request._messages] == []  # the toast says it, once

    response = rep_client.get(page)
    toast = response.context["move_toast"]
    assert toast["message"] == f"“{deal.title}” moved to Qualification."
    assert toast["undo"] == {"url": move_url(deal), "stage": stages["Prospecting"].pk, "stage_name": "Prospecting",
                             "version": 2, "label": "Undo: move back to Prospecting"}
    body = text(response)
    toasts = body[body.index('id="sf-toasts"'):body.index('<main id="main"')]
    assert "<div hx-disable>" in toasts and 'class="sf-undo-form" method="post"' in toasts
    assert f'action="{move_url(deal)}"' in toasts and f'name="next" value="{page}"' in toasts
    assert "Undo: move back to Prospecting" in toasts and f"“{deal.title}” moved to Qualification." in toasts
    assert rep_client.get(page).context["move_toast"] is None  # shown once

    back = {"stage": stages["Prospecting"].pk, "version": 2, "undo": "1", "next": page}
    response = rep_client.post(move_url(deal), back)
    assert response.status_code == 302 and response["Location"] == page
    deal.refresh_from_db()
    assert deal.stage == stages["Prospecting"] and deal.version == 3
    assert rep_client.get(page).context["move_toast"]["message"] == f"“{deal.title}” moved back to Prospecting."
    history = StageChange.objects.filter(deal=deal).order_by("pk").values_list("from_stage__name", "to_stage__name")
    assert list(history)[-2:] == [("Prospecting", "Qualification"), ("Qualification", "Prospecting")]


def test_deal_page_offers_no_undo_once_the_deal_changed_again(rep_client, rep, deal, stages):
    from pipeline import services

    page = deal.get_absolute_url()
    rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "next": page})
    services.deal_move(deal=deal, to_stage=stages["Meeting & demo"], actor=rep)
    response = rep_client.get(page)
    assert response.context["move_toast"] is None and "sf-undo-form" not in text(response)


def test_deal_page_shows_no_undo_for_another_deals_move(rep_client, rep, deal, stages):
    other = DealFactory(owner=rep, stage=stages["Prospecting"], title="Other deal")
    page = deal.get_absolute_url()
    rep_client.post(move_url(deal), {"stage": stages["Qualification"].pk, "version": 1, "next": page})
    assert rep_client.get(other.get_absolute_url()).context["move_toast"] is None
    assert rep_client.get(deal.get_absolute_url()).context["move_toast"] is not None


def test_board_without_deals_says_how_to_add_one_and_a_filter_without_matches_how_to_reset(rep_client, rep, stages):
    response = rep_client.get(reverse("pipeline:board"))
    body = text(response)
    assert "This pipeline has no deals yet." in body and reverse("pipeline:deal_create") in body
    assert "No deals in this stage. Drag a card here or add one above." in body
    DealFactory(owner=rep, stage=stages["Prospecting"], title="Findable")
    response = rep_client.get(reverse("pipeline:board"), {"q": "nothing-like-it"}, **HTMX)
    body = text(response)
    assert "No deals match these filters." in body and "Show all deals" in body
    response = rep_client.get(reverse("pipeline:board"))
    assert "This pipeline has no deals yet." not in text(response)


def test_empty_organization_list_links_to_adding_and_importing_organizations(rep_client):
    body = text(rep_client.get(reverse("qualification:lead_list")))
    assert f'No leads yet. <a href="{reverse("pipeline:organization_create")}">Add a lead</a>' in body
    assert reverse("imports:upload") in body


def test_the_boards_forms_carry_one_csrf_token_that_the_server_accepts(rep, stages):
    """The board writes its quick-add forms and move menus in Python and the rest in the template;
    all of them carry the page's one token, and a write posted with it passes the CSRF check."""
    import re

    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    body = text(client.get(reverse("pipeline:board")))
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body))
    tokens |= set(re.findall(r'"X-CSRFToken": "([^"]+)"', body))
    assert len(tokens) == 1
    (token,) = tokens
    stage = stages["Prospecting"]
    response = client.post(
        reverse("pipeline:deal_quick_add", args=[stage.pk]),
        {"title": "From the board", "company": "Acme", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert Deal.objects.filter(title="From the board", stage=stage).exists()
    refused = client.post(reverse("pipeline:deal_quick_add", args=[stage.pk]), {"title": "No token", "company": "Acme"})
    assert refused.status_code == 403


def test_the_board_reads_its_stages_moves_and_lost_reasons_fresh_on_every_request(rep_client, rep, stages, pipeline):
    """Their SQL is compiled once per connection (pipeline.selectors); what they read must be current."""
    DealFactory(owner=rep, stage=stages["Prospecting"])
    first = text(rep_client.get(reverse("pipeline:board")))
    assert "Gone quiet" not in first and "Scouting" not in first

    Stage.objects.filter(pk=stages["Prospecting"].pk).update(name="Scouting")
    LostReason.objects.create(name="Gone quiet", position=99)
    Transition.objects.filter(pipeline=pipeline).delete()
    Transition.objects.create(pipeline=pipeline, from_stage=stages["Prospecting"], to_stage=stages["Offer"])
    body = text(rep_client.get(reverse("pipeline:board")))

    assert '<h2 class="sf-col-title" id="col-title-%d">Scouting</h2>' % stages["Prospecting"].pk in body
    assert "Gone quiet</option>" in body
    column = column_html(body, stages["Prospecting"])
    menu = column[column.index('<template class="sf-move-template">') :].split("</template>")[0]
    assert f'name="stage" value="{stages["Offer"].pk}"' in menu
    assert f'name="stage" value="{stages["Qualification"].pk}"' not in menu


@pytest.mark.parametrize("page", ["pipeline:board", "qualification:lead_list"])
def test_no_page_carries_another_sessions_csrf_token_or_address(rep, teammate, stages, page):
    """The CSRF tokens of the page frame's sign-out and language forms and the address to come
    back to are each request's own."""
    import re

    from django.middleware.csrf import _unmask_cipher_token
    from django.test import Client

    pages = []
    for user, query in ((rep, "?q=first"), (teammate, "?q=second")):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        body = text(client.get(reverse(page) + query))
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body))
        tokens |= set(re.findall(r'"X-CSRFToken": "([^"]+)"', body))
        secrets = {_unmask_cipher_token(token) for token in tokens}
        assert len(tokens) >= 1 and secrets == {client.cookies["csrftoken"].value}, user
        assert f'<input type="hidden" name="next" value="{reverse(page)}{query}">' in body
        pages.append(body)
    assert "?q=first" not in pages[1]
