"""The `statement_missing` event, published on the metrics topic once per payer and payment
month (key `statement_missing|<filer>|<previous statement number>|<month>`).

The importer number is masked when it is shaped like a Social Security number, as in the
metrics topic's statement summaries; the reroute command line then carries the mask, to be
replaced by the operator. `pms-stream schema --event statement_missing` prints its schema.

Flow: detect -> **event** -> metrics topic.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from pms_stream.forecast.event import PayerKind
from pms_stream.statements.model import SCHEMA_VERSION

__all__ = ["StatementMissingEvent"]


class StatementMissingEvent(
    msgspec.Struct, frozen=True, tag="statement_missing", tag_field="type", kw_only=True
):
    """A payer with a statement in the previous payment month has none in this one although
    its preliminary print date (the 11th working day) is over."""

    schema_version: int = SCHEMA_VERSION
    payer: str  # filer code, or importer number (masked when SSN-shaped)
    payer_kind: PayerKind
    filer_code: str
    payment_month: str  # YYYY-MM
    expected_print_date: date  # the 11th working day of the payment month
    due_date: date  # the 15th working day
    previous_month: str
    previous_statements: list[str]  # the payer's statement numbers of the previous month
    reroute_command: str  # the `pms-stream reroute` command line that would request it
    detected_at: datetime

    @property
    def key(self) -> str:
        first = self.previous_statements[0] if self.previous_statements else ""
        return f"statement_missing|{self.filer_code}|{first}|{self.payment_month}"
