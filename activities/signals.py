"""Events other apps follow (carried out after the change commits; see the `outbox` app).

Payload of `activities_changed`: `activity_ids` (sorted list of ints), `kind` ("updated" or
"cancelled") and, for "updated", `fields` (the names of the fields that changed). The mail app
sends updated or cancelled meeting invitations from it.
"""
from outbox.topics import Topic

activities_changed = Topic("activities.changed")
