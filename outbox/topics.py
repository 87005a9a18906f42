"""Topics and their handlers: the registry behind `Topic.publish`.

    deals_changed = Topic("pipeline.deals_changed")            # in the publishing app

    @deals_changed.handler("activities.onboarding", wants=lambda p: p["kind"] == "won")
    def onboarding_on_won(*, deal_ids, kind, **payload): ...   # in an app built on it

A handler's name is stored in the messages, so it must stay stable once released. Handlers take
the payload as keyword arguments (JSON values: lists, not sets), with `occurred_at` (ISO 8601,
when it was published) added, and accept keywords they do not use. They must be safe to run again
after a failure: their own rows roll back with the failure, but a cache key or a task they
enqueued before raising does not.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone


@dataclass(frozen=True)
class Handler:
    name: str
    topic: str
    run: Callable[..., object]
    wants: Callable[[dict], bool] | None = None
    # Payload keys removed from the stored message once the handler succeeded: secrets it needs
    # once (the customer's link) stay in the database only until they were used.
    forget: tuple[str, ...] = ()


_handlers: dict[str, Handler] = {}


def handler_get(name: str) -> Handler | None:
    return _handlers.get(name)


class Topic:
    def __init__(self, name: str):
        self.name = name

    def handler(self, name: str, *, wants: Callable[[dict], bool] | None = None, forget: tuple[str, ...] = ()):
        """Subscribe the decorated function; `wants(payload)` False writes no message at all;
        the payload keys in `forget` are removed from the message once the handler succeeded."""

        def register(run):
            known = _handlers.get(name)
            if known is not None and known.run is not run:
                raise ValueError(f"Two outbox handlers are called {name!r}.")
            _handlers[name] = Handler(name=name, topic=self.name, run=run, wants=wants, forget=tuple(forget))
            return run

        return register

    def handlers(self) -> list[Handler]:
        return [h for h in _handlers.values() if h.topic == self.name]

    def publish(self, **payload) -> list[int]:
        """Record the event for every interested handler in the current transaction; they run
        after it commits. Returns the ids of the messages written."""
        from .models import OutboxMessage
        from .services import dispatch_after_commit

        names = [h.name for h in self.handlers() if h.wants is None or h.wants(payload)]
        if not names:
            return []
        # Followers may run minutes later (a retry, the sweep); they learn when it happened.
        payload.setdefault("occurred_at", timezone.now().isoformat())
        messages = OutboxMessage.objects.bulk_create(
            OutboxMessage(topic=self.name, handler=name, payload=payload) for name in names
        )
        ids = [m.pk for m in messages]
        # robust: nothing that happens after the commit may turn the committed change into an error.
        transaction.on_commit(lambda: dispatch_after_commit(ids), robust=True)
        return ids
