"""The CSV exports of the CRMs teams usually leave, recognised by their header row.

Each preset names the columns of one CRM's documented export of deals (opportunities) and says
which Stageflow field each one fills. When most of a preset's columns are in a file, the mapping
step proposes that CRM's mapping first and says which export it recognised; the header synonyms in
`imports.services.TARGETS` fill in the rest. What the uploader then confirms is remembered per
layout (`ImportLayout`) like any other mapping.

Values need no preset: stage names, "Closed Won"/"closedwon", owners' full names or e-mail
addresses and country names are proposed by the value-mapping step (`imports.values`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .models import ImportKind


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    kind: str
    # Header as the CRM writes it → Stageflow field (a target of imports.services.TARGETS).
    columns: dict[str, str]


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", (text or "").casefold()).split())


PRESETS = [
    Preset("pipedrive", "Pipedrive", ImportKind.DEALS, {
        "Deal - ID": "external_id",
        "Deal - Title": "title",
        "Deal - Organization": "company",
        "Deal - Value": "amount",
        "Deal - Currency": "currency",
        "Deal - Stage": "stage",
        "Deal - Status": "status",
        "Deal - Owner": "owner",
        "Deal - Expected close date": "expected_close",
        "Deal - Deal created": "created_at",
        "Deal - Deal closed on": "closed_at",
        "Deal - Lost reason": "lost_reason",
        "Deal - Probability": "probability",
        "Person - Name": "contact_name",
        "Person - Email": "contact_email",
        "Person - Phone": "contact_phone",
        "Organization - Address - Country": "country",
    }),
    Preset("hubspot", "HubSpot", ImportKind.DEALS, {
        "Record ID": "external_id",
        "Deal Name": "title",
        "Associated Company (Primary)": "company",
        "Amount": "amount",
        "Currency": "currency",
        "Deal Stage": "stage",
        "Deal owner": "owner",
        "Close Date": "expected_close",
        "Create Date": "created_at",
        "Closed Lost Reason": "lost_reason",
        "Deal probability": "probability",
        "Next step": "next_step",
    }),
    Preset("salesforce", "Salesforce", ImportKind.DEALS, {
        "Opportunity ID": "external_id",
        "Opportunity Name": "title",
        "Account Name": "company",
        "Amount": "amount",
        "Opportunity Currency": "currency",
        "Stage": "stage",
        "Opportunity Owner": "owner",
        "Close Date": "expected_close",
        "Created Date": "created_at",
        "Probability (%)": "probability",
        "Next Step": "next_step",
        "Loss Reason": "lost_reason",
        "Billing Country": "country",
        "Lead Source": "source",
    }),
    Preset("zoho", "Zoho CRM", ImportKind.DEALS, {
        "Record Id": "external_id",
        "Deal Name": "title",
        "Account Name": "company",
        "Amount": "amount",
        "Currency": "currency",
        "Stage": "stage",
        "Deal Owner": "owner",
        "Closing Date": "expected_close",
        "Created Time": "created_at",
        "Probability (%)": "probability",
        "Next Step": "next_step",
        "Reason For Loss": "lost_reason",
        "Lead Source": "source",
        "Contact Name": "contact_name",
    }),
    Preset("odoo", "Odoo CRM", ImportKind.DEALS, {
        "ID": "external_id",
        "Opportunity": "title",
        "Customer": "company",
        "Expected Revenue": "amount",
        "Currency": "currency",
        "Stage": "stage",
        "Salesperson": "owner",
        "Expected Closing": "expected_close",
        "Created on": "created_at",
        "Closed Date": "closed_at",
        "Lost Reason": "lost_reason",
        "Probability": "probability",
        "Country": "country",
        "Contact Name": "contact_name",
        "Email": "contact_email",
        "Phone": "contact_phone",
    }),
]

# A preset is recognised when at least this many of its columns, and at least half of the file's
# columns, are its own: a file of four common headers ("Stage", "Amount", …) is nobody's export.
MIN_COLUMNS = 4


def preset_detect(kind: str, headers: list[str]) -> Preset | None:
    """The CRM whose export this header row is, or None."""
    normal = {_normal(h) for h in headers if h}
    best, best_hits = None, 0
    for preset in PRESETS:
        if preset.kind != kind:
            continue
        hits = len(normal & {_normal(column) for column in preset.columns})
        if hits > best_hits:
            best, best_hits = preset, hits
    if best is None or best_hits < MIN_COLUMNS or best_hits * 2 < len(normal):
        return None
    return best


def preset_mapping(preset: Preset, headers: list[str], targets: set[str]) -> dict[str, int]:
    """Field → column index for the preset's columns found in `headers` (each used once)."""
    by_header = {_normal(column): field for column, field in preset.columns.items()}
    mapping: dict[str, int] = {}
    for index, header in enumerate(headers):
        field = by_header.get(_normal(header))
        if field in targets and field not in mapping:
            mapping[field] = index
    return mapping
