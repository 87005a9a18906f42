"""The outbox: what must follow a change, recorded in the change's own transaction.

A service that changes something other apps react to publishes an event on a `Topic`
(`pipeline.signals.deals_changed`). Publishing writes one `OutboxMessage` per interested handler
in the caller's transaction, so the follow-ups commit together with the change or not at all.
After the commit the worker (in laptop mode a background thread of the same process) runs each handler once, in its
own transaction, together with marking the message done: the rows a handler writes (webhook
deliveries, onboarding tasks, offer withdrawals) exist exactly once. A handler that raises is
rolled back, logged and tried again later with backoff; the request whose change caused it
never sees the failure. A periodic sweep (config/schedules.py) dispatches what was left behind,
e.g. messages written while the broker was down.

Apps that build on the pipeline subscribe in their `receivers.py`; the pipeline app publishes
without importing them.
"""
