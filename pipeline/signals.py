"""Events other apps listen to. Sent only after the transaction that caused them committed.

The pipeline app never imports the apps that build on it (forecasting, offers, …); they
subscribe here instead.
"""
from django.dispatch import Signal

# Sent with `pipeline_ids` (set of ints), `deal_ids` (set of ints) and `kind` (str).
deals_changed = Signal()
