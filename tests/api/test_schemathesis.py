"""A bounded property-based run of schemathesis against the schema, in-process over WSGI.

For every documented operation, schemathesis generates requests from the schema — valid ones
(positive mode) and ones that break it (negative mode: wrong types, missing or extra fields, odd
strings, out-of-range numbers) — and sends them with an admin's token and with a rep's token.
Path ids are real objects half of the time and generated the other half; in bodies and query
strings, references (stage, lead, reason, owner, pipeline) are swapped for real ids, and a deal's
`version` for its current one, at random — so that moves, wins, losses, reopenings, updates,
creations and deletions get past validation into the services and the pipeline's rules. The
check: no answer is a server error. Examples
are derandomized so CI is reproducible; STAGEFLOW_SCHEMATHESIS_EXAMPLES (per operation, mode and
id kind) and STAGEFLOW_SCHEMATHESIS_SECONDS (per caller) raise the bounds for a longer local run.
"""
import os
import time
from datetime import date, timedelta

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from activities import services as activities
from offers import services as offers
from offers.models import Product
from pipeline import services
from pipeline.models import ContactRole, Deal, LostReason
from pipeline.people import deal_contact_add, person_create
from tests.api.conftest import client_for, token_client
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("STAGEFLOW_SCHEMATHESIS_EXAMPLES", "6"))
# A safety cap per caller on a slow or busy machine; the operations' order is fixed, so a capped
# run still covers every operation with at least its first mode.
SECONDS = float(os.environ.get("STAGEFLOW_SCHEMATHESIS_SECONDS", "45"))


def _real_ids(rep, stages) -> tuple[dict[str, int], dict[str, list[int]]]:
    deal = DealFactory(owner=rep, stage=stages["Negotiation"], expected_close=date.today())
    lost = DealFactory(owner=rep, stage=stages["Qualification"])
    services.deal_mark_lost(deal=lost, reason=lost_reason(), actor=rep)
    person = person_create(actor=rep, name="Ann Example", owner=rep, organization=deal.organization,
                           emails=["ann@example.com"], phones=["+49 30 1234"])
    role = ContactRole.objects.create(name="Generated role", position=9)
    deal_contact_add(deal=deal, person=person, role=role, actor=rep)
    soon = timezone.now() + timedelta(days=1)
    activity = activities.activity_create(actor=rep, person=person, kind="call", title="Call", due_at=soon)
    note = activities.note_create(actor=rep, deal=deal, body="Wants a pilot")
    product = Product.objects.create(name="Seat licence", list_price=40, currency=deal.currency)
    offer = offers.offer_create(deal=deal, actor=rep).offer
    references = {
        "product": [product.pk],
        "deal": [deal.pk, lost.pk],
        "stage": sorted(s.pk for s in stages.values()),
        "organization": [deal.organization_id, lost.organization_id],
        "reason": list(LostReason.objects.values_list("pk", flat=True)),
        "owner": [rep.pk],
        "pipeline": [stages["Negotiation"].pipeline_id],
        "person": [person.pk],
        "role": [role.pk],
    }
    return {
        "/api/v1/deals/": deal.pk,
        "/api/v1/organizations/": deal.organization_id,
        "/api/v1/stages/": stages["Negotiation"].pk,
        "/api/v1/pipelines/": stages["Negotiation"].pipeline_id,
        "/api/v1/lost-reasons/": lost_reason().pk,
        "/api/v1/users/": rep.pk,
        "/api/v1/people/": person.pk,
        "/api/v1/contact-roles/": role.pk,
        "/api/v1/activities/": activity.pk,
        "/api/v1/notes/": note.pk,
        "/api/v1/products/": product.pk,
        "/api/v1/offers/": offer.pk,
    }, references


def _with_real_references(case, data, references, deal_id):
    """Swap some generated references for real ids, so requests get past "does not exist"."""
    for part in ("body", "query"):
        values = getattr(case, part)
        if not isinstance(values, dict):
            continue
        values = dict(values)
        for key, choices in references.items():
            if key in values and data.draw(st.booleans()):
                values[key] = data.draw(st.sampled_from(choices))
        if "version" in values and deal_id and data.draw(st.booleans()):
            values["version"] = Deal.objects.get(pk=deal_id).version
        setattr(case, part, values)


def _run(wsgi_app, operation, auth, path_parameters, mode, seen, by_operation, references):
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    deal_id = path_parameters["id"] if path_parameters and operation.path.startswith("/api/v1/deals/") else None

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def run(case, data):
        _with_real_references(case, data, references, deal_id)
        response = case.call(app=wsgi_app, headers=auth)
        seen.append(response.status_code)
        by_operation.setdefault(operation.label, []).append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error], headers=auth)

    run()


@pytest.mark.parametrize("who", ["admin_user", "rep"])
def test_generated_requests_never_cause_a_server_error(who, request, rep, manager, stages, wsgi_app):
    user = request.getfixturevalue(who)
    real, references = _real_ids(rep, stages)
    raw = client_for(user).get("/api/schema/", {"format": "json"}).json()
    schema = schemathesis.openapi.from_dict(raw)
    client, _ = token_client(user)
    auth = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}

    seen: list[int] = []
    by_operation: dict[str, list[int]] = {}
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        prefix = next((p for p in real if operation.path.startswith(p) and "{id}" in operation.path), None)
        real_path = {"id": real[prefix]} if prefix else None
        if real_path and "{person_id}" in operation.path:  # a deal's contact: the person on the real deal
            real_path["person_id"] = real["/api/v1/people/"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(wsgi_app, operation, auth, real_path, mode, seen, by_operation, references)
            if prefix:  # and with generated ids
                _run(wsgi_app, operation, auth, None, mode, seen, by_operation, references)
            if time.monotonic() - started > SECONDS:
                break
    assert operations >= 25
    # The run reached the API's answers, not only its refusals.
    assert {200, 400, 404} <= set(seen), sorted(set(seen))
    print(f"\n{who}: {len(seen)} requests over {operations} operations in {time.monotonic() - started:.0f} s")
    for label, codes in sorted(by_operation.items()):
        print(f"  {label:45} {len(codes):4} requests, statuses {sorted(set(codes))}")
