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

# The address book. Payload: `model` (str: "person" or "organization"), `kind` (str: created,
# changed, merged, imported) and `ids` (sorted list of ints: the records created or changed; for
# a merge, the survivor). A merge adds `merged_ids` (sorted list of ints: the records merged into
# the survivor, which no longer exist). Published by pipeline.people and pipeline.organizations
# (and the merge) in the transaction of the change; `imported` by the bulk writes of imports and
# demo data. A change that follows from a deal (an organisation becomes a customer when a deal is
# won) is not published here: deals_changed says it.
directory_changed = Topic("pipeline.directory_changed")
