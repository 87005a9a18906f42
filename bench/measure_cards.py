"""What the board's ways of reading card data buy, each timed against the other way.

- The board's cards read their next activity and onboarding progress with one follow-up query
  (pipeline.selectors.load_card_data, activities.extensions.load_card_data); the other way is to
  annotate the card query with the five correlated subqueries a single card uses.
- A single card (a move's answer) reads them as annotations of its own query; the other way is
  the follow-up query. This way costs time (the subqueries take longer to build than a small
  query takes to run) and saves a query: a move stays within its 10 (tests/pipeline/
  test_board_queries.py).
"""
from django.db import connection
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.test.utils import CaptureQueriesContext

from bench.timing import summary, timed_alternating
from pipeline import selectors
from pipeline.models import Deal, Pipeline


def _row(name_times, other_times, queries) -> dict:
    import statistics

    return {**summary(name_times), "queries": queries, "bytes": None, "floor_ms": statistics.median(other_times)}


def card_rows(*, admin, repeat: int) -> dict:
    pipeline = Pipeline.objects.get(is_default=True)
    deals = selectors.board_deals(user=admin, pipeline=pipeline)
    ranked = (
        deals.order_by()
        .annotate(rank=Window(RowNumber(), partition_by=[F("stage_id")], order_by=[F("stage_entered_at").desc(), F("pk").desc()]))
        .filter(rank__lte=25)
        .values("pk")
    )

    def board_cards_with_loader():
        selectors.board_cards(deals, per_column=25)

    def board_cards_with_annotations():
        list(selectors.card_queryset(Deal.objects.filter(pk__in=ranked), with_stage=False))

    deal_id = deals.filter(status="open").values_list("pk", flat=True).first()

    def single_card_with_annotations():
        selectors.card(deal_id)

    def single_card_with_loader():
        selectors.load_card_data(list(selectors.board_card_queryset(Deal.objects.filter(pk=deal_id))))

    rows = {}
    for name, fn, other in (
        ("board cards: follow-up query (floor: annotations)", board_cards_with_loader, board_cards_with_annotations),
        ("one card: annotations (floor: follow-up query)", single_card_with_annotations, single_card_with_loader),
    ):
        fn(), other()  # warm
        with CaptureQueriesContext(connection) as captured:
            fn()
        times, other_times = timed_alternating(fn, other, repeat)
        rows[name] = _row(times, other_times, len(captured))
    return rows
