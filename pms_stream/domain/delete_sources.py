"""Delete source codes of Q7: who deleted an entry summary from a daily statement.

The chapter's Q7 note 1: "Valid Delete Source Codes are: NNN Import Specialist Team Number, ENC
Entry Control, BKR Broker, ABI Deleted via HP (Record H in Entry Summary) application by the
filer." Figure 4's legend prints the same codes (with BKR, not the figure's "BRK"; see
docs/spec-decisions.md). The checks flag any other code (`delete_source`).

Flow: domain helper for the **checks** and the **reports** (Figure 4's legend).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DELETE_SOURCES", "TEAM_NUMBER", "is_delete_source"]

TEAM_NUMBER: Final = "NNN"  # any three digits: an import specialist team number
DELETE_SOURCES: Final[dict[str, str]] = {
    TEAM_NUMBER: "Import Specialist Team Number",
    "ENC": "Entry Control",
    "BKR": "Broker",
    "ABI": "Deleted via HP (Record H in Entry Summary) application by the filer",
}


def is_delete_source(code: str) -> bool:
    """A valid delete source: ENC, BKR, ABI, or three digits (a team number)."""
    if len(code) == 3 and code.isascii() and code.isdigit():
        return True
    return code != TEAM_NUMBER and code in DELETE_SOURCES
