"""Payment type indicators of the B record: who a periodic monthly statement is batched for.

The single source of the codes: the assembler rejects an MS block whose payment type is not a
monthly one (6, 7, 8), the reports choose the "Statement For" name and the importer line by
`is_importer_statement`. The chapter: reports are generated for entry summary data "with a
payment indicator of 6 ..., 7 ..., or 8".

Flow: domain helper for the **assembler** and the **reports**.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "IMPORTER_PAYMENT_TYPES",
    "MONTHLY_PAYMENT_TYPES",
    "PAYMENT_TYPES",
    "describe_payment_type",
    "is_importer_statement",
]

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
IMPORTER_PAYMENT_TYPES: Final = frozenset({"7", "8"})  # the report prints the importer


def describe_payment_type(payment_type: str | None) -> str:
    """What a payment type indicator means, for messages."""
    if payment_type is None:
        return "blank"
    return PAYMENT_TYPES.get(payment_type, "not a payment type indicator")


def is_importer_statement(payment_type: str | None) -> bool:
    """True for importer statements (7, 8): the reports print the importer's name and number."""
    return payment_type in IMPORTER_PAYMENT_TYPES
