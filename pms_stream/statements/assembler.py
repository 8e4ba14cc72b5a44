"""The assembler: one deterministic state machine that turns records into statements and events.

Feed it the records of one stream (a file, or one Kafka stream key) in order; it returns the
events each record completes. It handles both shapes of input:
- blocks: A ... B ... Y ... Z. An MS block is one statement (B gives status, number, print date,
  payment type, importer, branch, port and filer; A gives the process date; Y's count is checked).
  An MO block carries one QR request; an MQ block QX answers.
- bare runs of Q records (no A/B/Y/Z): a statement closes at the first record that can only
  belong to the next statement (a Q1 or Q3 after the totals), at an A or B, or on `flush`.
Order (the chapter's output structure map): each Q1, then its Q2, then its QA records 01, 02, ...;
then Q3, Q4, QE 01...; then, on final statements only, Q5, Q6, QJ 01...; then Q7 records.
A record out of order, orphaned or duplicated is rejected with the reason and the statement
around it goes on (its checks then say that a record of it was rejected). A statement that
cannot be completed (no daily statement, i.e. no Q1 and Q2; no Q3/Q4; or a final without
Q5/Q6) is rejected whole, with all its raw records; so is an MS block whose B record's payment
type is not 6, 7 or 8 (docs/spec-decisions.md). Nothing is dropped silently.

State is small and explicit: the open batch header, the open block header and the raw records of
the open statement. `open_records` lists exactly the raw records needed to rebuild it, which is
what the Kafka service keeps to survive a crash (see docs/exactly-once.md).

Flow: framing -> codec -> **assembler** -> checks -> model -> encoders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, NamedTuple

import msgspec

from pms_stream.catair.codec import layout_of, parse_record
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
    YRecord,
    ZRecord,
)
from pms_stream.domain.entry_numbers import format_entry_number
from pms_stream.domain.fee_classes import fee_class
from pms_stream.domain.payment_types import MONTHLY_PAYMENT_TYPES, describe_payment_type
from pms_stream.errors import RecordError
from pms_stream.statements import checks
from pms_stream.statements.model import (
    Check,
    DailyStatement,
    DeletedEntry,
    Event,
    FeeAmount,
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Source,
    Statement,
    Totals,
)

__all__ = ["Assembler", "Origin"]

ZERO = Decimal("0.00")

# The B record's payment type indicator: only 6, 7 and 8 are monthly statements.
_PAYMENT_TYPE: Final = next(f for f in layout_of("B").fields if f.attr == "payment_type")

# Phases of a statement, in the chapter's order.
DETAIL, TOTALS, FINAL, DELETED = 0, 1, 2, 3


class Origin(NamedTuple):
    """Where one record came from inside its stream: line and record number (files) or the
    Kafka offset of its message. Any may be None."""

    line: int | None = None
    record: int | None = None
    offset: int | None = None


Raw = tuple[bytes, Origin]
NOWHERE = Origin()


class _Dropped(Exception):  # noqa: N818 - internal signal: the record was already reported
    pass


class _Reject(Exception):  # noqa: N818 - internal signal carrying the reason
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Daily:
    q1: Q1Record
    raw: Raw
    q2: Q2Record | None = None
    fees: list[Fee] = field(default_factory=list)
    last_qa: int = 0


@dataclass
class _Open:
    """The statement being assembled."""

    framing: str  # "block" or "bare"
    block: BRecord | None
    records: list[Raw] = field(default_factory=list)
    daily: list[_Daily] = field(default_factory=list)
    phase: int = DETAIL
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
    checks: list[Check] = field(default_factory=list)


@dataclass
class _Block:
    b: BRecord
    raw: Raw
    count: int = 0  # records between B and Y, rejected ones included
    overflow: str | None = None  # set when its statement was rejected for its size
    requests: list[tuple[QRRecord, Raw]] = field(default_factory=list)


class Assembler:
    """Assembles the records of one stream. Not thread-safe; one instance per stream key.

    `file` or `topic`/`partition` name the stream in each event's `source`.
    """

    def __init__(
        self,
        *,
        file: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        max_records: int = 100_000,
    ) -> None:
        self._file = file
        # An open statement past this many records is rejected whole: memory stays bounded
        # (the chapter allows about 80,000: 9,999 daily statements of up to 7 records each).
        self.max_records = max_records
        self._topic = topic
        self._partition = partition
        self._batch: ARecord | None = None
        self._batch_raw: Raw | None = None
        self._block: _Block | None = None
        self._open: _Open | None = None
        self._out: list[Event] = []
        # Records seen, by (record type, outcome): "accepted", "rejected" (could not be
        # placed) or "invalid" (the codec refused it). Read and reset by the service's metrics.
        self.record_stats: dict[tuple[str, str], int] = {}

    # ---- input ------------------------------------------------------------------------------

    def feed(self, raw: bytes, origin: Origin = NOWHERE) -> list[Event]:
        """Feed one raw record; returns the events it completes (often none)."""
        try:
            record = parse_record(raw)
        except RecordError as exc:
            key = (exc.record_type or "unknown", "invalid")
            self.record_stats[key] = self.record_stats.get(key, 0) + 1
            self._count_in_block((raw, origin))
            if self._open is not None:
                self._open.rejected += 1
            self._reject_error(exc, raw, origin)
        else:
            self._record(record, raw, origin)
        out, self._out = self._out, []
        return out

    def feed_fragment(self, raw: bytes, origin: Origin, reason: str) -> list[Event]:
        """Feed bytes that framing could not make into a record (rejected as they are)."""
        self._count_in_block((raw, origin))
        if self._open is not None:
            self._open.rejected += 1
        self._emit_reject("framing", reason, raw, origin)
        out, self._out = self._out, []
        return out

    def flush(self) -> list[Event]:
        """End of input (or an idle timeout): close what is open. Bare statements that are
        complete are emitted; anything else open is rejected with its raw records."""
        self._interrupt("no Y record before the end of input")
        self._batch = None
        self._batch_raw = None
        out, self._out = self._out, []
        return out

    def open_records(self) -> list[Raw]:
        """The raw records needed to rebuild the open state by feeding them again, in order.

        One exception: after an MS block's statement was rejected for its size, the block is
        still open but its records are gone; a state rebuilt from these records does not know
        the statement was rejected, and takes the block's later records as a new statement.
        (The service never rebuilds from here: it replays its input, see docs/exactly-once.md.)
        """
        out: list[Raw] = []
        if self._batch_raw is not None:
            out.append(self._batch_raw)
        if self._block is not None:
            out.append(self._block.raw)
            out.extend(raw for _, raw in self._block.requests)
        if self._open is not None:
            out.extend(
                r for r in self._open.records if self._block is None or r is not self._block.raw
            )
            out.extend(self._open.stray)
        return out

    @property
    def has_open_state(self) -> bool:
        return self._open is not None or self._block is not None or self._batch is not None

    @property
    def open_statement(self) -> bool:
        return self._open is not None or self._block is not None

    # ---- dispatch ---------------------------------------------------------------------------

    def _record(self, record: Record, raw: bytes, origin: Origin) -> None:
        entry: Raw = (raw, origin)
        handler = self._HANDLERS.get(type(record))
        if handler is None:  # pragma: no cover - every record type has a handler
            raise TypeError(type(record).__name__)
        tag = _tag(record)
        try:
            handler(self, record, entry)
            key = (tag, "accepted")
        except _Dropped:
            key = (tag, "rejected")
        except _Reject as exc:
            key = (tag, "rejected")
            if self._open is not None:
                self._open.rejected += 1
                if self._open.records and self._open.records[-1] is entry:
                    self._open.dropped.add(id(entry))
                elif self._block is None:
                    self._open.stray.append(entry)  # charged to it, so rebuilt with it
            self._emit_reject("record", exc.reason, raw, origin, record_type=tag)
        self.record_stats[key] = self.record_stats.get(key, 0) + 1

    def _count_in_block(self, entry: Raw) -> None:
        """A record of the open block or statement that is not kept: it still counts for the Y
        record, and stays with the statement's raw records (so a state rebuilt from
        `open_records` counts it again), marked as already rejected."""
        if self._block is not None:
            self._block.count += 1
            if self._open is not None:
                self._open.records.append(entry)
                self._open.dropped.add(id(entry))
                self._overflowed()
        elif self._open is not None:
            # A bare statement's extent is its own records; the stray one is only remembered
            # so that a rebuilt state charges it to the statement again.
            self._open.stray.append(entry)
            self._overflowed()

    # ---- control records --------------------------------------------------------------------

    def _on_a(self, a: ARecord, entry: Raw) -> None:
        if self._open is not None or self._block is not None:
            self._interrupt("a new A record started a transmission")
        self._batch = a
        self._batch_raw = entry

    def _on_z(self, z: ZRecord, entry: Raw) -> None:
        if self._open is not None or self._block is not None:
            self._interrupt("the Z record ended the transmission")
        batch = self._batch
        self._batch = None
        self._batch_raw = None
        if batch is None:
            raise _Reject("Z record without an A record before it")
        if (z.site_code, z.filer_code) != (batch.site_code, batch.filer_code):
            raise _Reject(
                f"Z record site/filer {z.site_code}/{z.filer_code} does not match the "
                f"A record's {batch.site_code}/{batch.filer_code}"
            )

    def _on_b(self, b: BRecord, entry: Raw) -> None:
        if self._open is not None or self._block is not None:
            self._interrupt("a new B record started a block")
        self._block = _Block(b, entry)
        if b.application_id == "MS":
            self._open = _Open("block", b, [entry])
        elif b.application_id not in ("MO", "MQ"):
            self._block = None
            raise _Reject(
                f"application {b.application_id!r} is not one pms-stream handles "
                f"(MS statements, MO reroute requests, MQ reroute answers)"
            )

    def _on_y(self, y: YRecord, entry: Raw) -> None:
        block = self._block
        if block is None:
            raise _Reject("Y record without a B record before it")
        b = block.b
        mismatch: str | None = None
        if (y.district_port, y.filer_code, y.application_id) != (
            b.district_port,
            b.filer_code,
            b.application_id,
        ):
            mismatch = (
                f"Y record {y.district_port}/{y.filer_code}/{y.application_id} does not "
                f"match its B record {b.district_port}/{b.filer_code}/{b.application_id}"
            )
        if self._open is not None:
            self._open.records.append(entry)
            if mismatch:
                self._open.checks.append(Check(checks.TRAILER_MISMATCH, "warning", mismatch))
            if y.record_count is None:
                self._open.checks.append(
                    Check(checks.RECORD_COUNT, "warning", "Y record has no record count")
                )
            elif y.record_count != block.count:
                self._open.checks.append(
                    Check(
                        checks.RECORD_COUNT,
                        "error",
                        f"Y record counts {y.record_count} records; the block holds {block.count}",
                    )
                )
            self._block = None
            self._close_statement()
        else:
            self._block = None
            if block.overflow is not None:  # its statement was dead-lettered: the Y goes too,
                raise _Reject(block.overflow)  # so that a redrive of them forms a whole block
            for n, (qr, raw) in enumerate(block.requests, 1):
                self._emit_request(qr, raw, block, len(block.requests), n)

    def _interrupt(self, why: str) -> None:
        """A record that starts something new (or the end of input) came while something was
        open: a bare statement closes; a block without its Y is rejected with its records."""
        if self._open is not None and self._open.framing == "bare":
            self._close_statement()
        elif self._open is not None:
            self._block = None  # the rejected statement's records include its B record
            self._reject_open(f"block not closed by a Y record: {why}")
        if self._block is not None:
            self._block_unclosed(why)

    def _block_unclosed(self, why: str) -> None:
        block = self._block
        self._block = None
        if block is None:
            return
        if block.requests:  # answer the requests anyway: the QR is what matters to the filer
            for n, (qr, raw) in enumerate(block.requests, 1):
                self._emit_request(qr, raw, block, len(block.requests), n)
        elif block.overflow is None:  # an overflowed block's B went with its statement
            self._emit_reject(
                "record",
                f"B record's block not closed by a Y record: {why}",
                block.raw[0],
                block.raw[1],
                record_type="B",
            )

    # ---- reroute records ----------------------------------------------------------------------

    def _on_qr(self, qr: QRRecord, entry: Raw) -> None:
        block = self._block
        if block is not None and block.b.application_id == "MO":
            block.count += 1
            if len(block.requests) >= self.max_records:
                raise _Reject(f"more than {self.max_records} QR records in one MO block")
            block.requests.append((qr, entry))
            return
        if block is not None:
            self._count_in_block(entry)
            raise _Reject(
                f"QR record inside a {block.b.application_id} block; QR belongs in an MO block"
            )
        self._close_bare()
        self._emit_request(qr, entry, None, 1)

    def _on_qx(self, qx: QXRecord, entry: Raw) -> None:
        block = self._block
        if block is not None and block.b.application_id != "MQ":
            self._count_in_block(entry)
            raise _Reject(
                f"QX record inside a {block.b.application_id} block; QX belongs in an MQ block"
            )
        if block is not None:
            block.count += 1
        else:
            self._close_bare()
        raw, origin = entry
        self._out.append(
            RerouteAckEvent(
                code=qx.code,
                message=qx.message,
                reroute_count=qx.reroute_count,
                accepted=qx.code not in checks.QX_ERROR_CODES,
                raw=raw.decode("latin-1"),
                source=self._source([origin]),
            )
        )

    def _emit_request(
        self, qr: QRRecord, entry: Raw, block: _Block | None, in_block: int, position: int = 1
    ) -> None:
        raw, origin = entry
        b = block.b if block is not None else None
        self._out.append(
            RerouteRequestEvent(
                transmission_date=qr.transmission_date,
                importer_number=qr.importer_number,
                client_branch=qr.client_branch,
                statement_number=qr.statement_number,
                scope=qr.scope,
                preliminary_request=qr.preliminary_request,
                final_request=qr.final_request,
                problems=[f"{p.field} (positions {p.positions}): {p.reason}" for p in qr.problems],
                site_code=self._batch.site_code if self._batch else None,
                batch_filer_code=self._batch.filer_code if self._batch else None,
                district_port=b.district_port if b else None,
                filer_code=b.filer_code if b else None,
                office_code=b.office_code if b else None,
                qr_in_block=in_block,
                position_in_block=position,
                raw=raw.decode("latin-1"),
                source=self._source([origin]),
            )
        )

    # ---- statement records --------------------------------------------------------------------

    def _statement_for(self, record: Record, entry: Raw, *, starts: bool) -> _Open:
        """The open statement `record` belongs to, opening a bare one where it may start one."""
        block = self._block
        if block is not None:
            if self._open is None and block.overflow is not None:
                self._count_in_block(entry)
                raise _Reject(block.overflow)
            if self._open is None:
                self._count_in_block(entry)
                raise _Reject(
                    f"{_tag(record)} record inside a "
                    f"{block.b.application_id} block; Q statement records belong in "
                    f"an MS block"
                )
            block.count += 1
            self._open.records.append(entry)
            self._check_size()
            return self._open
        if self._open is None:
            if not starts:
                raise _Reject(
                    f"{_tag(record)} record with no statement open: "
                    f"{_EXPECTED_BEFORE[type(record)]}"
                )
            self._open = _Open("bare", None)
        self._open.records.append(entry)
        self._check_size()
        return self._open

    def _check_size(self) -> None:
        """Reject the open statement whole once it holds more than `max_records` records;
        `_Dropped` tells the record's handler that the record was reported with it."""
        if self._overflowed():
            raise _Dropped

    def _overflowed(self) -> bool:
        st = self._open
        if st is None or len(st.records) + len(st.stray) <= self.max_records:
            return False
        self._open = None
        self._reject_statement(
            st,
            f"statement has more than {self.max_records} records, the limit for one "
            "open statement (max_records_per_statement)",
        )
        if self._block is not None:
            self._block.overflow = (
                f"record of a statement rejected for having more than {self.max_records} records "
                "(max_records_per_statement)"
            )
        return True

    def _close_bare(self) -> None:
        if self._open is not None and self._open.framing == "bare":
            self._close_statement()

    def _on_q1(self, q1: Q1Record, entry: Raw) -> None:
        if self._open is not None and self._open.framing == "bare" and self._open.phase > DETAIL:
            self._close_statement()
        st = self._statement_for(q1, entry, starts=True)
        if st.phase > DETAIL:
            raise _Reject(
                "Q1 after the statement totals: daily statements (Q1, Q2, QA) come before Q3"
            )
        self._end_daily(st)
        st.daily.append(_Daily(q1, entry))

    def _on_q2(self, q2: Q2Record, entry: Raw) -> None:
        st = self._statement_for(q2, entry, starts=False)
        daily = st.daily[-1] if st.daily and st.phase == DETAIL else None
        if daily is None:
            raise _Reject("Q2 without its Q1: each Q2 follows the Q1 of its daily statement")
        if daily.q2 is not None:
            raise _Reject(f"duplicate Q2 for daily statement {daily.q1.daily_statement_number}")
        daily.q2 = q2

    def _on_qa(self, qa: QARecord, entry: Raw) -> None:
        st = self._statement_for(qa, entry, starts=False)
        daily = st.daily[-1] if st.daily and st.phase == DETAIL else None
        if daily is None or daily.q2 is None:
            raise _Reject(
                "QA without its Q1 and Q2: fee records follow the Q2 of their daily statement"
            )
        daily.last_qa = _next_sequence("QA", qa.sequence, daily.last_qa)
        daily.fees.extend(qa.fees)

    def _on_q3(self, q3: Q3Record, entry: Raw) -> None:
        if self._open is not None and self._open.framing == "bare" and self._open.phase > DETAIL:
            self._close_statement()
        st = self._statement_for(q3, entry, starts=True)
        if st.phase > DETAIL:
            raise _Reject("duplicate Q3: a statement has one set of totals")
        self._end_daily(st)
        st.phase = TOTALS
        st.q3 = q3

    def _on_q4(self, q4: Q4Record, entry: Raw) -> None:
        st = self._statement_for(q4, entry, starts=False)
        if st.q4 is not None:
            raise _Reject("duplicate Q4")
        if st.phase != TOTALS or st.q3 is None:
            raise _Reject("Q4 without its Q3: Q4 follows Q3")
        st.q4 = q4

    def _on_qe(self, qe: QERecord, entry: Raw) -> None:
        st = self._statement_for(qe, entry, starts=False)
        if st.phase > TOTALS:
            raise _Reject("QE after the final totals or deleted entries: QE records follow Q4")
        if st.q4 is None:
            raise _Reject("QE without Q3 and Q4: total fee records follow Q4")
        st.last_qe = _next_sequence("QE", qe.sequence, st.last_qe)
        st.qe.extend(qe.fees)

    def _on_q5(self, q5: Q5Record, entry: Raw) -> None:
        st = self._statement_for(q5, entry, starts=False)
        if st.block is not None and st.block.statement_status == "P":
            raise _Reject(
                "Q5 on a preliminary statement: final totals (Q5, Q6, QJ) come only on "
                "final statements"
            )
        if st.phase != TOTALS or st.q4 is None:
            if st.phase >= FINAL:
                raise _Reject("duplicate Q5 or Q5 after Q7")
            raise _Reject("Q5 before the preliminary totals: Q5 follows Q3, Q4 and QE")
        st.phase = FINAL
        st.q5 = q5

    def _on_q6(self, q6: Q6Record, entry: Raw) -> None:
        st = self._statement_for(q6, entry, starts=False)
        if st.q6 is not None:
            raise _Reject("duplicate Q6")
        if st.phase != FINAL or st.q5 is None:
            raise _Reject("Q6 without its Q5: Q6 follows Q5")
        st.q6 = q6

    def _on_qj(self, qj: QJRecord, entry: Raw) -> None:
        st = self._statement_for(qj, entry, starts=False)
        if st.phase != FINAL or st.q6 is None:
            raise _Reject("QJ without Q5 and Q6: final fee records follow Q6")
        st.last_qj = _next_sequence("QJ", qj.sequence, st.last_qj)
        st.qj.extend(qj.fees)

    def _on_q7(self, q7: Q7Record, entry: Raw) -> None:
        st = self._statement_for(q7, entry, starts=False)
        if st.q4 is None or (st.phase == FINAL and st.q6 is None):
            raise _Reject(
                "Q7 before the totals: deleted entry summaries come after Q3/Q4 "
                "(and Q5/Q6 on final statements)"
            )
        st.phase = DELETED
        st.q7.append(q7)

    _HANDLERS: ClassVar[dict[type, Callable[[Assembler, Any, Raw], None]]] = {}

    # ---- closing ------------------------------------------------------------------------------

    def _end_daily(self, st: _Open) -> None:
        """The last daily statement is over: without its Q2 its Q1 is an orphan."""
        if st.daily and st.daily[-1].q2 is None:
            orphan = st.daily.pop()
            st.rejected += 1
            st.dropped.add(id(orphan.raw))
            self._emit_reject(
                "record",
                f"Q1 of daily statement {orphan.q1.daily_statement_number} "
                f"is not followed by its Q2",
                orphan.raw[0],
                orphan.raw[1],
                record_type="Q1",
            )

    def _close_statement(self) -> None:
        st = self._open
        self._open = None
        if st is None:
            return
        if st.phase == DETAIL:
            self._end_daily(st)
        b = st.block
        if b is not None and b.payment_type not in (None, *MONTHLY_PAYMENT_TYPES):
            self._reject_statement(
                st,
                f"not a periodic monthly statement: B record {_PAYMENT_TYPE.name} "
                f"(position {_PAYMENT_TYPE.positions}) is {b.payment_type!r} "
                f"({describe_payment_type(b.payment_type)}); monthly statements have "
                f"payment type 6, 7 or 8",
                record_type="B",
                field=_PAYMENT_TYPE.name,
                positions=_PAYMENT_TYPE.positions,
                value=b.payment_type,
            )
            return
        missing = _missing(st)
        if missing:
            self._reject_statement(st, f"incomplete statement: {missing}")
            return
        self._out.append(self._build(st))

    def _reject_open(self, reason: str) -> None:
        st = self._open
        self._open = None
        if st is not None:
            self._reject_statement(st, reason)

    def _reject_statement(
        self,
        st: _Open,
        reason: str,
        *,
        record_type: str | None = None,
        field: str | None = None,
        positions: str | None = None,
        value: str | None = None,
    ) -> None:
        """Reject the records of `st` not already rejected one by one: each raw record ends up
        in exactly one rejected event. `record_type` ... `value` name the field that made the
        whole statement unacceptable, when one did."""
        kept = [entry for entry in st.records if id(entry) not in st.dropped]
        if not kept:
            return
        self._out.append(
            RejectedEvent(
                kind="statement",
                reason=reason,
                record_type=record_type,
                field=field,
                positions=positions,
                value=value,
                raw="\n".join(r.decode("latin-1") for r, _ in kept),
                record_count=len(kept),
                source=self._source([o for _, o in kept]),
            )
        )

    def _build(self, st: _Open) -> Statement:
        assert st.q3 is not None
        assert st.q4 is not None
        b = st.block
        final = st.q5 is not None
        status: Literal["preliminary", "final"] = "final" if final else "preliminary"
        if b is not None and b.statement_status is None:
            st.checks.append(
                Check(
                    checks.STATUS_MISSING,
                    "warning",
                    f"B record has no statement status; {status} by its records",
                )
            )
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
            process_date=self._batch.transmission_date if self._batch else None,
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
            framing="block" if st.framing == "block" else "bare",
            record_count=len(st.records),
            source=self._source([o for _, o in st.records]),
        )
        found = list(st.checks)
        if st.rejected:
            found.append(
                Check(
                    checks.REJECTED_RECORDS,
                    "error",
                    f"{st.rejected} record(s) of this statement were rejected",
                )
            )
        found.extend(checks.run(statement, b, st.q5))
        return msgspec.structs.replace(
            statement, checks=found, header_differences=checks.header_differences(statement, b)
        )

    # ---- events -------------------------------------------------------------------------------

    def _reject_error(self, exc: RecordError, raw: bytes, origin: Origin) -> None:
        self._out.append(
            RejectedEvent(
                kind="record",
                reason=exc.reason,
                record_type=exc.record_type,
                field=exc.field,
                positions=exc.positions,
                value=exc.value,
                raw=raw.decode("latin-1"),
                source=self._source([origin]),
            )
        )

    def _emit_reject(
        self, kind: str, reason: str, raw: bytes, origin: Origin, record_type: str | None = None
    ) -> None:
        self._out.append(
            RejectedEvent(
                kind=kind,  # type: ignore[arg-type]
                reason=reason,
                record_type=record_type,
                raw=raw.decode("latin-1"),
                source=self._source([origin]),
            )
        )

    def _source(self, origins: list[Origin]) -> Source:
        first, last = origins[0], origins[-1]
        if self._topic is not None:
            return Source(
                topic=self._topic,
                partition=self._partition,
                first_offset=first.offset,
                last_offset=last.offset,
            )
        if first.line is not None:
            return Source(file=self._file, first_line=first.line, last_line=last.line)
        return Source(file=self._file, first_record=first.record, last_record=last.record)


Assembler._HANDLERS = {  # the dispatch table, filled once the methods exist
    ARecord: Assembler._on_a,
    BRecord: Assembler._on_b,
    YRecord: Assembler._on_y,
    ZRecord: Assembler._on_z,
    Q1Record: Assembler._on_q1,
    Q2Record: Assembler._on_q2,
    QARecord: Assembler._on_qa,
    Q3Record: Assembler._on_q3,
    Q4Record: Assembler._on_q4,
    QERecord: Assembler._on_qe,
    Q5Record: Assembler._on_q5,
    Q6Record: Assembler._on_q6,
    QJRecord: Assembler._on_qj,
    Q7Record: Assembler._on_q7,
    QRRecord: Assembler._on_qr,
    QXRecord: Assembler._on_qx,
}

_EXPECTED_BEFORE: dict[type, str] = {
    Q2Record: "a Q2 follows the Q1 of its daily statement",
    QARecord: "a QA follows the Q2 of its daily statement",
    Q4Record: "a Q4 follows Q3",
    QERecord: "a QE follows Q4",
    Q5Record: "a Q5 follows the preliminary totals (Q3, Q4, QE)",
    Q6Record: "a Q6 follows Q5",
    QJRecord: "a QJ follows Q6",
    Q7Record: "a Q7 follows the totals",
}


def _tag(record: Record) -> str:
    return str(type(record).__struct_config__.tag)


def _next_sequence(kind: str, sequence: int, last: int) -> int:
    if sequence != last + 1:
        if sequence <= last:
            raise _Reject(
                f"duplicate or out-of-order {kind} sequence {sequence:02d} after "
                f"{last:02d}; expected {last + 1:02d}"
            )
        raise _Reject(
            f"{kind} sequence {sequence:02d} skips {last + 1:02d}: {kind} records are "
            f"numbered 01, 02, ... without gaps"
        )
    return sequence


def _missing(st: _Open) -> str | None:
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


def _amount(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value


def _fees(fees: list[Fee]) -> list[FeeAmount]:
    return [FeeAmount(f.code, fee_class(f.code).name, f.amount) for f in fees]


def _daily(d: _Daily) -> DailyStatement:
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
