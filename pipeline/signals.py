"""Events other apps listen to. Sent only after the transaction that caused them committed.

The pipeline app never imports the apps that build on it (forecasting, offers, …); they
subscribe here instead.
"""
from django.dispatch import Signal

# Sent with `pipeline_ids` (set of ints), `deal_ids` (set of ints), `kind` (str) and `past_changed`
# (bool, True when absent): False only when nothing before today and no deal's outcome changed (an
# open deal moved between open stages, now), so figures about past periods and outcomes still hold.
deals_changed = Signal()
