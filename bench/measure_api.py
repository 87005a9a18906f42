"""A move through the REST API (`POST /api/v1/deals/<id>/move/`) as a rep with a personal token."""
import statistics

from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api.models import ApiToken
from bench import floors
from bench.timing import summary, timed_alternating
from pipeline.models import Deal


def api_move(*, rep, repeat: int) -> dict:
    """The same deal back and forth between the first two stages, with its current version (so no
    legitimate conflict); the floor is bench/floors.api_move: the move's statements and the deal
    the answer shows, without the board's column totals."""
    _, key = ApiToken.issue(user=rep, name="Benchmarks")
    deal = Deal.objects.filter(owner=rep, stage__position=1, status="open").select_related("pipeline").first()
    stages = list(deal.pipeline.stages.order_by("position")[:2])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    # Each move adds one to the version: counted here, so that the harness runs no query of its own
    # (the query count and the time are the request's alone).
    state = {"i": 0, "bytes": 0, "version": deal.version}

    def move_once():
        target = stages[state["i"] % 2]
        response = client.post(
            f"/api/v1/deals/{deal.pk}/move/", {"stage": target.pk, "version": state["version"]},
            content_type="application/json",
        )
        assert response.status_code == 200, (response.status_code, response.content[:300])
        state["bytes"] = len(response.content)
        state["i"] += 1
        state["version"] += 1

    move_once()
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        move_once()
    queries = len(ctx.captured_queries)
    floor_deal = Deal.objects.filter(owner=rep, status="open", stage=stages[0].pk if state["i"] % 2 else stages[1].pk)
    floor_deal = floor_deal.exclude(pk=deal.pk).first()  # its own deal: the two alternate
    floor_state = {"i": state["i"]}

    def floor_move():
        target = stages[floor_state["i"] % 2]
        floors.api_move(deal_id=floor_deal.pk, to_stage_id=target.pk, actor_id=rep.pk)
        floor_state["i"] += 1

    times, floor_times = timed_alternating(move_once, floor_move, repeat)
    return {**summary(times), "queries": queries, "bytes": state["bytes"], "floor_ms": statistics.median(floor_times)}
