"""The board, the deal pages and the address book's pages, one module per job: board.py (the board
and its quick-add), moves.py (move, lose, reopen), deals.py (the deal page and form), contacts.py
(the deal page's contacts), organizations.py and people.py (the organisation and person pages and
lists), and common.py for what they share.

Views are thin: they find what the user may see (selectors), validate input (forms), call one
service, and render from fresh database state. One URL renders the full page or, for an HTMX
request, the partial it needs; after an HTMX write the page's other parts are refreshed with
out-of-band swaps.
"""
from .board import board, deal_quick_add
from .contacts import deal_contact_add, deal_contact_remove, deal_contact_role
from .deals import deal_create, deal_detail, deal_snooze_view
from .moves import deal_lose_view, deal_move_view, deal_reopen_view
from .directory import duplicates_list, organization_merge, person_data, person_data_json, person_erase, person_merge
from .organizations import (
    lead_list_moved, organization_create, organization_detail, organization_edit, organization_list, organization_lookup,
    organization_moved,
)
from .people import person_create, person_detail, person_edit, person_list, person_lookup

__all__ = [
    "board", "deal_contact_add", "deal_contact_remove", "deal_contact_role", "deal_create", "deal_detail",
    "deal_lose_view", "deal_move_view", "deal_quick_add", "deal_reopen_view", "deal_snooze_view", "duplicates_list",
    "lead_list_moved", "organization_create", "organization_detail", "organization_edit", "organization_list",
    "organization_lookup", "organization_merge", "organization_moved", "person_create", "person_data",
    "person_data_json", "person_detail", "person_edit", "person_erase", "person_list", "person_lookup", "person_merge",
]
