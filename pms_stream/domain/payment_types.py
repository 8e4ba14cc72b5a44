"""Payment type indicators of the B record: who a periodic monthly statement is batched for.

Used by the statement model (`payment_type` and `statement_for`) and the reports.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MONTHLY_PAYMENT_TYPES", "PAYMENT_TYPES", "is_importer_statement"]

PAYMENT_TYPES: Final[dict[str, str]] = {
    "1": "single pay",
    "2": "daily statement batched by entry filer code",
    "3": "daily statement batched by importer of record number",
    "5": "daily statement batched by importer with several subdivisions",
    "6": "periodic monthly statement batched by entry filer code",
    "7": "periodic monthly statement batched by importer of record number",
    "8": "periodic monthly statement batched by importer with several subdivisions",
}

MONTHLY_PAYMENT_TYPES: Final = frozenset({"6", "7", "8"})


def is_importer_statement(payment_type: str | None) -> bool:
    """True for importer statements (7, 8): the reports print the importer's name and number."""
    return payment_type in {"7", "8"}
