"""Events other apps follow. Published inside the transaction of the change that caused them and
carried out after it commits (see the `outbox` app); the pipeline app never imports the apps
that build on it (forecasting, offers, …): they subscribe here instead, in their receivers.py.
"""
from outbox.topics import Topic

# Payload: `pipeline_ids` and `deal_ids` (sorted lists of ints), `kind` (str: created, moved, won,
# lost, reopened, updated, imported) and `past_changed` (bool): False only when nothing before
# today and no deal's outcome changed (an open deal moved between open stages, now), so figures
# about past periods and outcomes still hold.
deals_changed = Topic("pipeline.deals_changed")
