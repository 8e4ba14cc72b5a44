"""The JSON contract: every event pms-stream publishes or prints, as msgspec Structs.

Events are a tagged union on `type`: "statement", "reroute_request", "reroute_ack",
"rejected". Amounts are `Decimal` with two places, written as JSON strings ("1234.56"); dates
are ISO `YYYY-MM-DD`. `SCHEMA_VERSION` changes only with a change that could break a reader;
added optional fields do not change it. docs/statement-contract.md documents every field;
`pms-stream schema` prints the JSON Schema generated from these classes.

Flow: assembler -> **model** -> JSON encoder (CLI stdout, Kafka topics) / reports.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "Check",
    "DailyStatement",
    "DeletedEntry",
    "Event",
    "FeeAmount",
    "Framing",
    "HeaderDifference",
    "RejectKind",
    "RejectedEvent",
    "RerouteAckEvent",
    "RerouteRequestEvent",
    "Source",
    "Statement",
    "Totals",
]

SCHEMA_VERSION = 1

Severity = Literal["error", "warning", "info"]
Status = Literal["preliminary", "final"]
Framing = Literal["block", "bare"]  # A B ... Y Z blocks, or bare runs of Q records
RejectKind = Literal["record", "framing", "statement", "message"]


class Source(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where the input came from: a file and its lines, or a topic, partition and offsets.

    For a file, lines are 1-based; for records concatenated without line ends, `first_record`
    and `last_record` count 80-byte records from 1 instead. For Kafka, offsets are the messages'.
    """

    file: str | None = None
    first_line: int | None = None
    last_line: int | None = None
    first_record: int | None = None
    last_record: int | None = None
    topic: str | None = None
    partition: int | None = None
    first_offset: int | None = None
    last_offset: int | None = None


class FeeAmount(msgspec.Struct, frozen=True):
    """One fee class and its amount. `name` comes from Appendix B (unknown codes: generic)."""

    code: str
    name: str
    amount: Decimal


class DailyStatement(msgspec.Struct, frozen=True):
    """One periodic daily statement on the monthly statement (Q1, Q2 and its QA records)."""

    number: str
    district_port: str
    filer_code: str
    importer_number: str | None
    print_date: date
    presentation_date: date
    duty: Decimal
    tax: Decimal
    add: Decimal
    cvd: Decimal
    amount_due: Decimal
    fees: list[FeeAmount]


class Totals(msgspec.Struct, frozen=True):
    """Statement totals: duty, tax, ADD, CVD, amount due and fees by class."""

    duty: Decimal
    tax: Decimal
    add: Decimal
    cvd: Decimal
    amount_due: Decimal
    fees: list[FeeAmount]


class DeletedEntry(msgspec.Struct, frozen=True):
    """An entry summary deleted from a daily statement after presentation (Q7)."""

    daily_statement: str
    entry_number: str
    delete_source: str
    entry_number_formatted: str  # XXX-NNNNNNN-N when 11 characters, else as received


class Check(msgspec.Struct, frozen=True):
    """The result of one consistency check that did not pass (see docs/checks.md)."""

    code: str
    severity: Severity
    message: str


class HeaderDifference(msgspec.Struct, frozen=True):
    """A header value on which the B record and Q3 disagree (both present, different).

    The statement's own field (`statement_number`, `print_date`, `filer_code`,
    `importer_number`) holds Q3's value: `shown` is "Q3". Values are as in the statement: a date
    is ISO `YYYY-MM-DD`. The detail and deleted-entries reports print B's statement number,
    print date and filer code instead, as the chapter's tables for Figures 1 and 4 say, and say
    so on their line 6 (docs/reports.md).
    """

    field: Literal["statement_number", "print_date", "filer_code", "importer_number"]
    shown: Literal["Q3"]
    q3: str
    b: str


class Statement(msgspec.Struct, frozen=True, tag="statement", tag_field="type", kw_only=True):
    """One periodic monthly statement, preliminary or final, assembled from its records."""

    schema_version: int = SCHEMA_VERSION
    statement_number: str
    status: Status
    payment_type: str | None
    filer_code: str
    importer_number: str | None
    client_branch: str | None
    district_port: str | None
    office_code: str | None = None
    print_date: date
    due_date: date
    process_date: date | None
    daily_statements: list[DailyStatement]
    preliminary_totals: Totals
    final_totals: Totals | None
    difference: Totals | None
    deleted_entries: list[DeletedEntry]
    checks: list[Check]
    # B and Q3 disagree on these header values; empty when they agree (docs/checks.md)
    header_differences: list[HeaderDifference] = msgspec.field(default_factory=list)
    framing: Framing
    record_count: int
    source: Source
    reroute_of: str | None = None  # set when re-published for a reroute request (its id)


class RerouteRequestEvent(
    msgspec.Struct, frozen=True, tag="reroute_request", tag_field="type", kw_only=True
):
    """A QR request to reroute statements, with the control records around it.

    The date, scope and indicators are as received; `problems` lists what is invalid in them
    and `qr_in_block` counts QR records in the request's B-Y block (the chapter allows one; the
    block is answered once, with MS3, at its first QR).
    """

    schema_version: int = SCHEMA_VERSION
    transmission_date: str
    importer_number: str | None
    client_branch: str | None
    statement_number: str | None
    scope: str
    preliminary_request: str
    final_request: str
    problems: list[str]
    site_code: str | None  # A record: the receiver district/port ("scope A")
    batch_filer_code: str | None
    district_port: str | None  # B record: processing district/port
    filer_code: str | None
    office_code: str | None
    qr_in_block: int
    position_in_block: int = 1  # this QR's place among them, from 1
    raw: str
    source: Source


class RerouteAckEvent(
    msgspec.Struct, frozen=True, tag="reroute_ack", tag_field="type", kw_only=True
):
    """A QX acknowledgement or error (from CBP on input, or pms-stream's own answer)."""

    schema_version: int = SCHEMA_VERSION
    code: str
    message: str
    reroute_count: int
    accepted: bool
    request: RerouteRequestEvent | None = None
    request_id: str | None = (
        None  # set on pms-stream's own answers: the request's topic:partition:offset:n
    )
    raw: str
    source: Source


class RejectedEvent(msgspec.Struct, frozen=True, tag="rejected", tag_field="type", kw_only=True):
    """Input that could not be accepted: one record, a framing remainder, or an incomplete
    statement (then `raw` holds all its records, one per line). Nothing is dropped silently.

    `raw` is the input as text (bytes decoded as Latin-1, so every byte maps to one character
    and the bytes can be recovered exactly); control characters are escaped by JSON.
    """

    schema_version: int = SCHEMA_VERSION
    kind: RejectKind
    reason: str
    record_type: str | None = None
    field: str | None = None
    positions: str | None = None
    value: str | None = None
    raw: str
    record_count: int = 1
    source: Source
    time: datetime | None = None


Event = Statement | RerouteRequestEvent | RerouteAckEvent | RejectedEvent
