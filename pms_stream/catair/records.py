"""Typed records: one frozen msgspec Struct per record type, joined in the tagged union `Record`.

The codec (`codec.py`) fills these from the layouts in `layouts.py`; a check at import time there
makes sure each Struct's attributes are exactly its layout's, so the two cannot drift. Amounts are
`Decimal` with two places, dates `datetime.date`, codes `str` (leading zeros kept), blank
conditional fields `None`, and repeated groups tuples with blank slots dropped.

Flow: framing -> codec -> **records** -> assembler -> statements.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

import msgspec

__all__ = [
    "GROUP_ITEMS",
    "ARecord",
    "BRecord",
    "DeletedEntry",
    "Fee",
    "FieldProblem",
    "Q1Record",
    "Q2Record",
    "Q3Record",
    "Q4Record",
    "Q5Record",
    "Q6Record",
    "Q7Record",
    "QARecord",
    "QERecord",
    "QJRecord",
    "QRRecord",
    "QXRecord",
    "Record",
    "Secret",
    "YRecord",
    "ZRecord",
]


class Secret:
    """A value that must never be shown: the A record's communication password, and (as
    `service.config.Password`) the SASL password.

    `repr`, `str` and the JSON encoders print a mask (`Secret('******')`, a subclass under its own
    name); only `reveal()` gives the value, and only the encoder and the Kafka client call it.
    Compared in constant time.
    """

    __slots__ = ("_value",)
    MASK: Final = "******"

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # noqa: PLC0415 - it loads OpenSSL; only comparing secrets needs it

        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class Fee(msgspec.Struct, frozen=True, gc=False):
    """One fee class code and its amount (QA, QE, QJ)."""

    code: str
    amount: Decimal


class DeletedEntry(msgspec.Struct, frozen=True, gc=False):
    """One entry summary deleted after presentation, and who deleted it (Q7)."""

    entry_number: str
    delete_source: str


class FieldProblem(msgspec.Struct, frozen=True, gc=False):
    """A field kept as received although its value is invalid (QR only; see `QRRecord`)."""

    field: str
    positions: str
    reason: str


class _Record(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="record"):
    """Base of every record; `record` in JSON is the record type, e.g. "Q1"."""


class ARecord(_Record, tag="A", frozen=True, kw_only=True):
    """Batch header: starts a transmission."""

    site_code: str
    filer_code: str
    password: Secret | None = None
    transmission_date: date | None = None
    application_id: str | None = None
    office_code: str | None = None
    transmitter_data: str | None = None


class BRecord(_Record, tag="B", frozen=True, kw_only=True):
    """Block header: starts a block (MS statement, MO request, MQ answers)."""

    district_port: str
    filer_code: str
    application_id: str
    statement_status: str | None = None
    statement_number: str | None = None
    print_date: date | None = None
    payment_type: str | None = None
    importer_number: str | None = None
    client_branch: str | None = None
    office_code: str | None = None
    remote_district_port: str | None = None
    remote_filer_code: str | None = None
    remote_office_code: str | None = None
    preparer_indicator: str | None = None
    filer_data: str | None = None


class YRecord(_Record, tag="Y", frozen=True, kw_only=True):
    """Block trailer."""

    district_port: str
    filer_code: str
    application_id: str
    record_count: int | None = None
    office_code: str | None = None
    trailer_mark: str | None = None


class ZRecord(_Record, tag="Z", frozen=True, kw_only=True):
    """Batch trailer."""

    site_code: str
    filer_code: str
    date: date | None = None
    office_code: str | None = None


class Q1Record(_Record, tag="Q1", frozen=True, kw_only=True):
    """One periodic daily statement: number, port, filer, importer, dates, duty, tax."""

    daily_statement_number: str
    district_port: str
    filer_code: str
    importer_number: str | None = None
    print_date: date
    presentation_date: date
    duty: Decimal | None = None
    tax: Decimal | None = None


class _Amounts(_Record, frozen=True, kw_only=True):
    add: Decimal | None = None
    cvd: Decimal | None = None
    amount_due: Decimal | None = None


class Q2Record(_Amounts, tag="Q2", frozen=True, kw_only=True):
    """One periodic daily statement, continued: ADD, CVD, amount due."""


class _Fees(_Record, frozen=True, kw_only=True):
    sequence: int
    fees: tuple[Fee, ...] = ()


class QARecord(_Fees, tag="QA", frozen=True, kw_only=True):
    """Fees of one periodic daily statement (up to five per record, records 01 ascending)."""


class _TotalsHeader(_Record, frozen=True, kw_only=True):
    statement_number: str
    print_date: date
    due_date: date
    filer_code: str
    importer_number: str | None = None
    duty: Decimal | None = None
    tax: Decimal | None = None


class Q3Record(_TotalsHeader, tag="Q3", frozen=True, kw_only=True):
    """Preliminary totals: statement number, print and due dates, filer, importer, duty, tax."""


class Q4Record(_Amounts, tag="Q4", frozen=True, kw_only=True):
    """Preliminary totals, continued: ADD, CVD, amount due."""


class QERecord(_Fees, tag="QE", frozen=True, kw_only=True):
    """Preliminary totals: fees by class."""


class Q5Record(_TotalsHeader, tag="Q5", frozen=True, kw_only=True):
    """Final totals (final statements only): as Q3."""


class Q6Record(_Amounts, tag="Q6", frozen=True, kw_only=True):
    """Final totals, continued: as Q4."""


class QJRecord(_Fees, tag="QJ", frozen=True, kw_only=True):
    """Final totals: fees by class."""


class Q7Record(_Record, tag="Q7", frozen=True, kw_only=True):
    """Entry summaries deleted from a daily statement after presentation (up to four)."""

    daily_statement_number: str
    entries: tuple[DeletedEntry, ...] = ()


class QRRecord(_Record, tag="QR", frozen=True, kw_only=True):
    """A request to reroute statements (input, in an MO block).

    The date, scope and request indicators are kept exactly as received (full width), because
    the chapter answers a bad value there with a QX error (MS2, MS5, MS6) rather than a reject.
    `problems` lists what is wrong with them; it is empty for a valid request.
    """

    transmission_date: str
    importer_number: str | None = None
    client_branch: str | None = None
    statement_number: str | None = None
    scope: str = " "
    preliminary_request: str
    final_request: str
    problems: tuple[FieldProblem, ...] = ()


class QXRecord(_Record, tag="QX", frozen=True, kw_only=True):
    """Acknowledgement or error for a reroute request (output, in an MQ block)."""

    code: str
    message: str
    reroute_count: int


Record = (
    ARecord
    | BRecord
    | YRecord
    | ZRecord
    | Q1Record
    | Q2Record
    | QARecord
    | Q3Record
    | Q4Record
    | QERecord
    | Q5Record
    | Q6Record
    | QJRecord
    | Q7Record
    | QRRecord
    | QXRecord
)

RECORD_TYPES: Final[dict[str, type[Record]]] = {
    "A": ARecord,
    "B": BRecord,
    "Y": YRecord,
    "Z": ZRecord,
    "Q1": Q1Record,
    "Q2": Q2Record,
    "QA": QARecord,
    "Q3": Q3Record,
    "Q4": Q4Record,
    "QE": QERecord,
    "Q5": Q5Record,
    "Q6": Q6Record,
    "QJ": QJRecord,
    "Q7": Q7Record,
    "QR": QRRecord,
    "QX": QXRecord,
}

# The item of each repeated group of the layouts (`Field.group`): a fee slot, a deleted entry.
GROUP_ITEMS: Final[dict[str, type[Fee] | type[DeletedEntry]]] = {
    "fees": Fee,
    "entries": DeletedEntry,
}
