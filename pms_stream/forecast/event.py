"""The forecast event: what a payer will pay on a due date, as published on the compacted
forecasts topic (key `payer|due date`) and printed by `pms-stream forecast`.

Money is Decimal, written as JSON strings with two decimals, never a float. `pms-stream schema
--event forecast` prints its JSON Schema; docs/back-office.md documents the fields.

Flow: aggregate -> **event** -> JSON (forecasts topic, CLI, GET /forecast).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

import msgspec

from pms_stream.statements.model import SCHEMA_VERSION, FeeAmount

__all__ = ["ForecastEvent", "PayerKind"]

PayerKind = Literal["filer", "importer"]


class ForecastEvent(msgspec.Struct, frozen=True, tag="forecast", tag_field="type", kw_only=True):
    """The amount a payer will pay on a due date: the sum over the latest version of each
    statement due that day (a final replaces its preliminary)."""

    schema_version: int = SCHEMA_VERSION
    payer: str  # the filer code (payment type 6) or the importer number (7 and 8)
    payer_kind: PayerKind
    due_date: date
    payment_month: str  # YYYY-MM: the due date's month
    amount_due: Decimal  # what will be debited (ACH debit) or must be received (ACH credit)
    duty: Decimal
    tax: Decimal
    add: Decimal
    cvd: Decimal
    fees: list[FeeAmount]  # by fee class, in code order
    statements: int  # statements due that day for this payer
    preliminary: int  # of which still preliminary (no final yet)
    statement_numbers: list[str]  # in order
    previous_amount_due: Decimal  # the amount of this key's previous forecast (0.00 at first)
    change: Decimal  # amount_due - previous_amount_due

    @property
    def key(self) -> str:
        return f"{self.payer}|{self.due_date.isoformat()}"
