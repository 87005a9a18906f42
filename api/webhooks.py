"""Outgoing webhooks: what is sent, how it is signed, and one delivery attempt.

Deal events carry the deal (`deal`); person and organisation events carry the record as the API
shows it (`person`, `organization`), and a merge also the ids merged into it (`merged_ids`).

A receiver checks `X-Stageflow-Signature: sha256=<hex>`, the HMAC-SHA256 with the endpoint's
secret over `<X-Stageflow-Timestamp>.<raw body>`, and may refuse old timestamps (replays).
"""
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from config.locks import CacheLock
from pipeline.models import Deal, Organization, Person

from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent, webhook_event_name


MAX_ATTEMPTS = 6
TIMEOUT_SECONDS = 5
LOCK_MARGIN_SECONDS = 30
RESPONSE_EXCERPT = 500
USER_AGENT = "Stageflow-Webhooks/1"


def retry_delay(attempts: int) -> int:
    """Seconds to wait after `attempts` failed attempts: 30 s, 2 min, 8 min, 32 min, ~2 h."""
    return min(30 * 4 ** (attempts - 1), 4 * 60 * 60)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def deal_payload(deal: Deal) -> dict:
    return {
        "id": deal.pk,
        "title": deal.title,
        "pipeline": deal.pipeline_id,
        "stage": deal.stage_id,
        "stage_name": deal.stage.name,
        "status": deal.status,
        "organization": deal.organization_id,
        "organization_name": deal.organization.name,
        "owner": deal.owner_id,
        "amount": str(deal.amount) if deal.amount is not None else None,
        "currency": deal.currency,
        "expected_close": deal.expected_close.isoformat() if deal.expected_close else None,
        "lost_reason": deal.lost_reason_id,
        "external_id": deal.external_id,
        "version": deal.version,
        "custom_fields": dict(deal.custom or {}),
    }


def deliveries_create(*, event: str, deal_ids, occurred_at: str | None = None) -> list[WebhookDelivery]:
    """Record one pending delivery per subscribed endpoint and deal (the deal as it is now);
    `occurred_at` is when the change happened (ISO 8601), by default now."""
    if event not in WebhookEvent.values:
        return []
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True).order_by("pk") if e.wants(event)]
    if not endpoints:
        return []
    deals = Deal.objects.filter(pk__in=deal_ids).select_related("stage", "organization").order_by("pk")
    now = timezone.now()
    rows = []
    for deal in deals:
        payload = {"event": f"deal.{event}", "occurred_at": occurred_at or now.isoformat(), "deal": deal_payload(deal)}
        rows.extend(
            WebhookDelivery(endpoint=endpoint, event=event, deal_id=deal.pk, payload=payload, created_at=now)
            for endpoint in endpoints
        )
    return WebhookDelivery.objects.bulk_create(rows)


def _directory_records(model: str, ids) -> list:
    """The people or organisations as the API shows them (GET /api/v1/people/<id>/, …/organizations/<id>/)."""
    from .serializers import OrganizationSerializer, PersonSerializer

    if model == "person":
        records = Person.objects.filter(pk__in=ids).select_related("organization").prefetch_related("emails", "phones")
        serializer = PersonSerializer()
    else:
        records = Organization.objects.filter(pk__in=ids).select_related("main_contact")
        serializer = OrganizationSerializer()
    return [(record.pk, serializer.to_representation(record)) for record in records.order_by("pk")]


def directory_deliveries_create(
    *, model: str, kind: str, ids, merged_ids=(), occurred_at: str | None = None
) -> list[WebhookDelivery]:
    """Record one pending delivery per subscribed endpoint and person or organisation (`model`), as
    the record is now; a merge names the records merged into the survivor in `merged_ids`. Records
    deleted since the change are left out."""
    event = f"{model}.{kind}"
    if model not in ("person", "organization") or event not in WebhookEvent.values:
        return []
    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True).order_by("pk") if e.wants(event)]
    if not endpoints:
        return []
    now = timezone.now()
    rows = []
    for pk, data in _directory_records(model, ids):
        payload = {"event": event, "occurred_at": occurred_at or now.isoformat(), model: data}
        if kind == "merged":
            payload["merged_ids"] = sorted(merged_ids)
        rows.extend(
            WebhookDelivery(endpoint=endpoint, event=event, payload=payload, created_at=now, **{f"{model}_id": pk})
            for endpoint in endpoints
        )
    return WebhookDelivery.objects.bulk_create(rows)


def delivery_attempt(delivery_id: int, *, after_attempts: int | None = None) -> WebhookDelivery | None:
    """Send a pending delivery once and record the outcome.

    Safe to call twice: a delivered or given-up delivery is left alone, and a cache lock keeps two
    workers from sending the same delivery at once (without holding a database transaction open
    while the receiver answers). With `after_attempts`, only a delivery that has had exactly that
    many attempts is sent: a retry the broker handed out twice is sent once."""
    timeout = getattr(settings, "WEBHOOK_TIMEOUT", TIMEOUT_SECONDS)
    lock = delivery_lock(delivery_id, timeout=timeout + LOCK_MARGIN_SECONDS)
    if not lock.acquire():
        return None
    try:
        pending = WebhookDelivery.objects.select_related("endpoint").filter(
            pk=delivery_id, status=DeliveryStatus.PENDING
        )
        if after_attempts is not None:
            pending = pending.filter(attempts=after_attempts)
        delivery = pending.first()
        if delivery is None:
            return None
        status_code, error = _post(delivery, timeout)
        delivery.attempts += 1
        delivery.last_attempt_at = timezone.now()
        delivery.response_status = status_code
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = delivery.last_attempt_at
            delivery.last_error = ""
        else:
            delivery.last_error = error or f"HTTP {status_code}"
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.FAILED
        delivery.save(
            update_fields=["attempts", "last_attempt_at", "response_status", "status", "delivered_at", "last_error"]
        )
        return delivery
    finally:
        lock.release()


def delivery_lock(delivery_id: int, *, timeout: int = TIMEOUT_SECONDS + LOCK_MARGIN_SECONDS) -> CacheLock:
    # Outlives the request's own timeout: one attempt at a time, without an open transaction.
    return CacheLock(f"webhook-delivery:{delivery_id}", timeout=timeout)


def _post(delivery: WebhookDelivery, timeout: float) -> tuple[int | None, str]:
    """POST the signed payload; (status code or None, error text)."""
    endpoint = delivery.endpoint
    body = json.dumps({"delivery": str(delivery.uuid), **delivery.payload}, cls=DjangoJSONEncoder).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Stageflow-Event": webhook_event_name(delivery.event),
            "X-Stageflow-Delivery": str(delivery.uuid),
            "X-Stageflow-Timestamp": timestamp,
            "X-Stageflow-Signature": signature(endpoint.secret, timestamp, body),
        },
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(RESPONSE_EXCERPT).decode("utf-8", errors="replace")
        return exc.code, f"HTTP {exc.code}: {excerpt}".strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:RESPONSE_EXCERPT] or exc.__class__.__name__


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook URL answers itself; following redirects would send signed data elsewhere."""

    def redirect_request(self, *args, **kwargs):
        return None


def _opener():
    # No proxies from the environment either: deliveries go straight to the registered URL.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
