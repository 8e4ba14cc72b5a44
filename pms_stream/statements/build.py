"""Building the events of the JSON model from records: a `Statement` from the records the
assembler kept for it, the rejected events, the reroute requests and acknowledgements.

The assembler decides what belongs to a statement (statements/order.py, statements/assembler.py)
and collects it in an `OpenStatement`; once the statement is complete, `build_statement` turns
those records into the JSON model: daily statements, preliminary and final totals, the
final-minus-preliminary difference, deleted entries, the source, and the checks (the framing
checks the assembler found, then `checks.run`). `missing_parts` says what an incomplete statement
lacks. Pure functions of records: no order rules here.

Flow: codec -> assembler (order, then **build**) -> checks -> model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, NamedTuple

import msgspec

from pms_stream.catair.records import (
    ARecord,
    BRecord,
    Fee,
    Q1Record,
    Q2Record,
    Q3Record,
    Q4Record,
    Q5Record,
    Q6Record,
    Q7Record,
    QARecord,
    QERecord,
    QJRecord,
    QRRecord,
    QXRecord,
    Record,
)
from pms_stream.domain.entry_numbers import format_entry_number
from pms_stream.domain.fee_classes import fee_class
from pms_stream.errors import RecordError
from pms_stream.statements import checks
from pms_stream.statements.model import (
    Check,
    DailyStatement,
    DeletedEntry,
    FeeAmount,
    Framing,
    RejectedEvent,
    RejectKind,
    RerouteAckEvent,
    RerouteRequestEvent,
    Source,
    Statement,
    Status,
    Totals,
)
from pms_stream.statements.order import Phase, next_sequence

__all__ = [
    "NOWHERE",
    "DailyParts",
    "OpenStatement",
    "Origin",
    "Raw",
    "StreamName",
    "build_statement",
    "missing_parts",
    "record_rejected",
    "rejected",
    "reroute_ack",
    "reroute_request",
    "statement_rejected",
]

ZERO: Final = Decimal("0.00")


class Origin(NamedTuple):
    """Where one record came from inside its stream: line and record number (files) or the
    Kafka offset of its message. Any may be None."""

    line: int | None = None
    record: int | None = None
    offset: int | None = None


Raw = tuple[bytes, Origin]
NOWHERE: Final = Origin()


@dataclass
class DailyParts:
    """One daily statement's records: its Q1, then its Q2 and the fees of its QA records."""

    q1: Q1Record
    raw: Raw
    q2: Q2Record | None = None
    fees: list[Fee] = field(default_factory=list)
    last_qa: int = 0


@dataclass
class OpenStatement:
    """The statement being assembled: its records so far and where it is in the order."""

    framing: Framing
    block: BRecord | None
    records: list[Raw] = field(default_factory=list)
    daily: list[DailyParts] = field(default_factory=list)
    phase: Phase = Phase.OPENED
    q3: Q3Record | None = None
    q4: Q4Record | None = None
    qe: list[Fee] = field(default_factory=list)
    last_qe: int = 0
    q5: Q5Record | None = None
    q6: Q6Record | None = None
    qj: list[Fee] = field(default_factory=list)
    last_qj: int = 0
    q7: list[Q7Record] = field(default_factory=list)
    rejected: int = 0
    dropped: set[int] = field(default_factory=set)  # id() of records already rejected alone
    stray: list[Raw] = field(default_factory=list)  # unreadable records met in a bare statement
    checks: list[Check] = field(default_factory=list)  # framing checks found on the way

    def kept(self) -> list[Raw]:
        """Its records not already rejected one by one."""
        return [entry for entry in self.records if id(entry) not in self.dropped]

    def add(self, record: Record, entry: Raw) -> None:
        """Keep a statement record that is in order (statements/order.py says which is); a QA,
        QE or QJ out of sequence raises `OutOfSequence`."""
        match record:
            case Q1Record():
                self.daily.append(DailyParts(record, entry))
            case Q2Record():
                self.daily[-1].q2 = record
            case QARecord():
                daily = self.daily[-1]
                daily.last_qa = next_sequence("QA", record.sequence, daily.last_qa)
                daily.fees.extend(record.fees)
            case Q3Record():
                self.q3 = record
            case Q4Record():
                self.q4 = record
            case QERecord():
                self.last_qe = next_sequence("QE", record.sequence, self.last_qe)
                self.qe.extend(record.fees)
            case Q5Record():
                self.q5 = record
            case Q6Record():
                self.q6 = record
            case QJRecord():
                self.last_qj = next_sequence("QJ", record.sequence, self.last_qj)
                self.qj.extend(record.fees)
            case Q7Record():
                self.q7.append(record)
            case _:  # pragma: no cover - the assembler passes statement records only
                raise TypeError(type(record).__name__)


@dataclass(frozen=True, slots=True)
class StreamName:
    """The stream an assembler reads: a file, or a Kafka topic and partition."""

    file: str | None = None
    topic: str | None = None
    partition: int | None = None

    def source(self, origins: list[Origin]) -> Source:
        """The `source` of an event made from records at `origins` (first to last)."""
        first, last = origins[0], origins[-1]
        if self.topic is not None:
            return Source(
                topic=self.topic,
                partition=self.partition,
                first_offset=first.offset,
                last_offset=last.offset,
            )
        if first.line is not None:
            return Source(file=self.file, first_line=first.line, last_line=last.line)
        return Source(file=self.file, first_record=first.record, last_record=last.record)


def missing_parts(st: OpenStatement) -> str | None:
    """What the statement lacks, every part of it, or None when it is complete."""
    missing: list[str] = []
    if not st.daily:
        # The chapter: "Record Identifiers Q1, Q2, and QA are mandatory detail payment records"
        # (QA is read as conditional: a daily statement may have no fee; docs/spec-decisions.md).
        missing.append(
            "no daily statement: Q1 and Q2 (detail payment records, mandatory) are missing"
        )
    final = st.q5 is not None or (st.block is not None and st.block.statement_status == "F")
    if st.q3 is None:
        missing.append("no Q3 (statement totals)")
    elif st.q4 is None:
        missing.append("no Q4 (totals of ADD, CVD, amount due)")
    elif final and st.q5 is None:
        missing.append("a final statement without Q5 (final totals)")
    elif final and st.q6 is None:
        missing.append("a final statement without Q6 (final totals of ADD, CVD, amount due)")
    return "; ".join(missing) or None


def build_statement(st: OpenStatement, batch: ARecord | None, name: StreamName) -> Statement:
    """The statement of the complete `st` (`missing_parts(st)` is None); `batch` is the open
    transmission's A record, if any."""
    assert st.q3 is not None
    assert st.q4 is not None
    b = st.block
    status: Status = "final" if st.q5 is not None else "preliminary"
    preliminary = _totals(st.q3, st.q4, st.qe)
    final_totals = _totals(st.q5, st.q6, st.qj) if st.q5 is not None and st.q6 else None
    statement = Statement(
        statement_number=st.q3.statement_number,
        status=status,
        payment_type=b.payment_type if b else None,
        filer_code=st.q3.filer_code,
        importer_number=st.q3.importer_number or (b.importer_number if b else None),
        client_branch=b.client_branch if b else None,
        district_port=b.district_port if b else None,
        office_code=b.office_code if b else None,
        print_date=st.q3.print_date,
        due_date=st.q3.due_date,
        process_date=batch.transmission_date if batch else None,
        daily_statements=[_daily(d) for d in st.daily],
        preliminary_totals=preliminary,
        final_totals=final_totals,
        difference=_difference(final_totals, preliminary) if final_totals else None,
        deleted_entries=[
            DeletedEntry(
                q7.daily_statement_number,
                e.entry_number,
                e.delete_source,
                format_entry_number(e.entry_number),
            )
            for q7 in st.q7
            for e in q7.entries
        ],
        checks=[],
        framing=st.framing,
        record_count=len(st.records),
        source=name.source([o for _, o in st.records]),
    )
    found = list(st.checks)
    if b is not None and b.statement_status is None:
        found.append(checks.status_missing(status))
    rejected = checks.rejected_records(st.rejected)
    if rejected is not None:
        found.append(rejected)
    found.extend(checks.run(statement, b, st.q5))
    return msgspec.structs.replace(
        statement, checks=found, header_differences=checks.header_differences(statement, b)
    )


def statement_rejected(
    records: list[Raw],
    reason: str,
    name: StreamName,
    *,
    record_type: str | None = None,
    field: str | None = None,
    positions: str | None = None,
    value: str | None = None,
) -> RejectedEvent:
    """A statement rejected whole with its `records`; `record_type` ... `value` name the field
    that made it unacceptable, when one did."""
    return RejectedEvent(
        kind="statement",
        reason=reason,
        record_type=record_type,
        field=field,
        positions=positions,
        value=value,
        raw="\n".join(r.decode("latin-1") for r, _ in records),
        record_count=len(records),
        source=name.source([o for _, o in records]),
    )


def record_rejected(
    exc: RecordError, raw: bytes, origin: Origin, name: StreamName
) -> RejectedEvent:
    """A record the codec refused, with the codec's reason, field and positions."""
    return RejectedEvent(
        kind="record",
        reason=exc.reason,
        record_type=exc.record_type,
        field=exc.field,
        positions=exc.positions,
        value=exc.value,
        raw=raw.decode("latin-1"),
        source=name.source([origin]),
    )


def rejected(
    kind: RejectKind,
    reason: str,
    entry: Raw,
    name: StreamName,
    record_type: str | None = None,
) -> RejectedEvent:
    """One record (or a framing fragment) rejected for `reason`."""
    raw, origin = entry
    return RejectedEvent(
        kind=kind,
        reason=reason,
        record_type=record_type,
        raw=raw.decode("latin-1"),
        source=name.source([origin]),
    )


def reroute_ack(qx: QXRecord, entry: Raw, name: StreamName) -> RerouteAckEvent:
    """A QX answer to a reroute request."""
    raw, origin = entry
    return RerouteAckEvent(
        code=qx.code,
        message=qx.message,
        reroute_count=qx.reroute_count,
        accepted=qx.code not in checks.QX_ERROR_CODES,
        raw=raw.decode("latin-1"),
        source=name.source([origin]),
    )


def reroute_request(
    qr: QRRecord,
    entry: Raw,
    name: StreamName,
    *,
    batch: ARecord | None,
    b: BRecord | None,
    in_block: int,
    position: int,
) -> RerouteRequestEvent:
    """A QR request, with the A and B records around it (if any): the `position`th of the
    `in_block` QR records of its block."""
    raw, origin = entry
    return RerouteRequestEvent(
        transmission_date=qr.transmission_date,
        importer_number=qr.importer_number,
        client_branch=qr.client_branch,
        statement_number=qr.statement_number,
        scope=qr.scope,
        preliminary_request=qr.preliminary_request,
        final_request=qr.final_request,
        problems=[f"{p.field} (positions {p.positions}): {p.reason}" for p in qr.problems],
        site_code=batch.site_code if batch else None,
        batch_filer_code=batch.filer_code if batch else None,
        district_port=b.district_port if b else None,
        filer_code=b.filer_code if b else None,
        office_code=b.office_code if b else None,
        qr_in_block=in_block,
        position_in_block=position,
        raw=raw.decode("latin-1"),
        source=name.source([origin]),
    )


def _amount(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value


def _fees(fees: list[Fee]) -> list[FeeAmount]:
    return [FeeAmount(f.code, fee_class(f.code).name, f.amount) for f in fees]


def _daily(d: DailyParts) -> DailyStatement:
    q1, q2 = d.q1, d.q2
    assert q2 is not None
    return DailyStatement(
        number=q1.daily_statement_number,
        district_port=q1.district_port,
        filer_code=q1.filer_code,
        importer_number=q1.importer_number,
        print_date=q1.print_date,
        presentation_date=q1.presentation_date,
        duty=_amount(q1.duty),
        tax=_amount(q1.tax),
        add=_amount(q2.add),
        cvd=_amount(q2.cvd),
        amount_due=_amount(q2.amount_due),
        fees=_fees(d.fees),
    )


def _totals(
    head: Q3Record | Q5Record | None, amounts: Q4Record | Q6Record | None, fees: list[Fee]
) -> Totals:
    assert head is not None
    assert amounts is not None
    return Totals(
        duty=_amount(head.duty),
        tax=_amount(head.tax),
        add=_amount(amounts.add),
        cvd=_amount(amounts.cvd),
        amount_due=_amount(amounts.amount_due),
        fees=_fees(fees),
    )


def _difference(final: Totals, preliminary: Totals) -> Totals:
    """Final minus preliminary, component by component and fee class by fee class."""
    pre = checks.fee_sums(preliminary.fees)
    fin = checks.fee_sums(final.fees)
    codes = list(dict.fromkeys([*pre, *fin]))
    return Totals(
        duty=final.duty - preliminary.duty,
        tax=final.tax - preliminary.tax,
        add=final.add - preliminary.add,
        cvd=final.cvd - preliminary.cvd,
        amount_due=final.amount_due - preliminary.amount_due,
        fees=[FeeAmount(c, fee_class(c).name, fin.get(c, ZERO) - pre.get(c, ZERO)) for c in codes],
    )
