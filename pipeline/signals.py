"""Events other apps follow. Published inside the transaction of the change that caused them and
carried out after it commits (see the `outbox` app); the pipeline app never imports the apps
that build on it (forecasting, offers, …): they subscribe here instead, in their receivers.py.
"""
from outbox.topics import Topic

# Payload: `pipeline_ids` and `deal_ids` (sorted lists of ints), `kind` (str: created, moved, won,
# lost, reopened, updated, imported, deleted — an import undone) and `past_changed` (bool): False only when nothing before
# today and no deal's outcome changed (an open deal moved between open stages, now), so figures
# about past periods and outcomes still hold.
deals_changed = Topic("pipeline.deals_changed")

# Two organisations or two people were merged (pipeline.merging). Payload: `kind` ("organization"
# or "person"), `survivor_id` and `merged_id` (ints; the merged record no longer exists, its id
# now leads to the survivor), `moved` ({model label: count}) and `actor_id` (int or None). No
# personal data: followers read the survivor.
records_merged = Topic("directory.merged")

# A person's personal data was erased on request (pipeline.privacy). Payload: `person_id`. Apps
# that copied personal data elsewhere (webhook receivers, a mail server) erase their copies.
person_erased = Topic("directory.person_erased")

# The address book. Payload: `model` (str: "person" or "organization"), `kind` (str: created,
# changed, merged, imported) and `ids` (sorted list of ints: the records created or changed; for
# a merge, the survivor). A merge adds `merged_ids` (sorted list of ints: the records merged into
# the survivor, which no longer exist). Published by pipeline.people and pipeline.organizations
# (and the merge) in the transaction of the change; `imported` by the bulk writes of imports and
# demo data. A change that follows from a deal (an organisation becomes a customer when a deal is
# won) is not published here: deals_changed says it.
directory_changed = Topic("pipeline.directory_changed")
