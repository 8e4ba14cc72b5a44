"""The assembler: one deterministic state machine that turns records into statements and events.

Feed it the records of one stream (a file, or one Kafka stream key) in order; it returns the
events each record completes. It handles both shapes of input:
- blocks: A ... B ... Y ... Z. An MS block is one statement (B gives status, number, print date,
  payment type, importer, branch, port and filer; A gives the process date; Y's count is checked).
  An MO block carries one QR request; an MQ block QX answers.
- bare runs of Q records (no A/B/Y/Z): a statement closes at the first record that can only
  belong to the next statement (a Q1 or Q3 after the totals), at an A or B, or on `flush`.
Order inside a statement is one table, `STRUCTURE_MAP` in statements/order.py (the chapter's
output structure map): Q1, Q2, QA 01...; Q3, Q4, QE 01...; on finals Q5, Q6, QJ 01...; Q7. A
record out of order, orphaned or duplicated is rejected with the reason and the statement
around it goes on (its checks then say that a record of it was rejected). A statement that
cannot be completed (no daily statement, i.e. no Q1 and Q2; no Q3/Q4; or a final without
Q5/Q6) is rejected whole, with all its raw records; so is an MS block whose B record's payment
type is not 6, 7 or 8 (docs/spec-decisions.md). Nothing is dropped silently.

Here: the codec call, the control records (A/B/Y/Z), the reroute records (QR in MO blocks, QX
in MQ blocks), which statement a record belongs to, and the rejects. Elsewhere: the order
(statements/order.py), the events made of the records (statements/build.py), every check
(statements/checks.py), the record counts handed over by `take_stats` (statements/stats.py).

State is small and explicit: the open batch header, the open block header and the raw records of
the open statement. `open_records` lists exactly the raw records needed to rebuild it, which is
what the Kafka service keeps to survive a crash (see docs/exactly-once.md).

Flow: framing -> codec -> **assembler** (order, build) -> checks -> model -> encoders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from pms_stream.catair.codec import layout_of, parse_record
from pms_stream.catair.records import (
    RECORD_TYPES,
    ARecord,
    BRecord,
    QRRecord,
    QXRecord,
    Record,
    YRecord,
    ZRecord,
)
from pms_stream.domain.payment_types import MONTHLY_PAYMENT_TYPES, describe_payment_type
from pms_stream.errors import RecordError
from pms_stream.statements import checks
from pms_stream.statements.build import (
    NOWHERE,
    OpenStatement,
    Origin,
    Raw,
    StreamName,
    build_statement,
    missing_parts,
    record_rejected,
    rejected,
    reroute_ack,
    reroute_request,
    statement_rejected,
)
from pms_stream.statements.model import (
    Event,
    RejectKind,
)
from pms_stream.statements.order import (
    Q5_ON_PRELIMINARY,
    STATEMENT_RECORDS,
    STRUCTURE_MAP,
    NextStatement,
    OutOfSequence,
    Phase,
)
from pms_stream.statements.stats import Outcome, RecordStats

__all__ = ["Assembler", "Origin", "RecordStats"]

# The B record's payment type indicator: only 6, 7 and 8 are monthly statements.
_PAYMENT_TYPE: Final = next(f for f in layout_of("B").fields if f.attr == "payment_type")


class _Dropped(Exception):  # noqa: N818 - internal signal: the record was already reported
    pass


class _Reject(Exception):  # noqa: N818 - internal signal carrying the reason
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        self._name = StreamName(file, topic, partition)
        # An open statement past this many records is rejected whole: memory stays bounded
        # (the chapter allows about 80,000: 9,999 daily statements of up to 7 records each).
        self.max_records = max_records
        self._batch: ARecord | None = None
        self._batch_raw: Raw | None = None
        self._block: _Block | None = None
        self._open: OpenStatement | None = None
        self._out: list[Event] = []
        self._stats: dict[tuple[str, str], int] = {}  # handed over by take_stats

    # ---- input ------------------------------------------------------------------------------

    def feed(self, raw: bytes, origin: Origin = NOWHERE) -> list[Event]:
        """Feed one raw record; returns the events it completes (often none)."""
        try:
            record = parse_record(raw)
        except RecordError as exc:
            key: tuple[str, Outcome] = (exc.record_type or "unknown", "invalid")
            self._stats[key] = self._stats.get(key, 0) + 1
            self._count_in_block((raw, origin))
            if self._open is not None:
                self._open.rejected += 1
            self._out.append(record_rejected(exc, raw, origin, self._name))
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

    def take_stats(self) -> RecordStats:
        """The records seen since the last call, by (record type, outcome); counting starts
        again from zero."""
        stats, self._stats = RecordStats(self._stats), {}
        return stats

    @property
    def has_open_state(self) -> bool:
        return self._open is not None or self._block is not None or self._batch is not None

    @property
    def open_statement(self) -> bool:
        return self._open is not None or self._block is not None

    @property
    def process_date(self) -> date | None:
        """The open A record's transmission date: the `process_date` of a statement built now."""
        return self._batch.transmission_date if self._batch is not None else None

    # ---- dispatch ---------------------------------------------------------------------------

    def _record(self, record: Record, raw: bytes, origin: Origin) -> None:
        entry: Raw = (raw, origin)
        tag, handler = _DISPATCH[type(record)]
        key: tuple[str, Outcome]
        try:
            handler(self, tag, record, entry)
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
        self._stats[key] = self._stats.get(key, 0) + 1

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

    def _on_a(self, _: str, a: ARecord, entry: Raw) -> None:
        if self._open is not None or self._block is not None:
            self._interrupt("a new A record started a transmission")
        self._batch = a
        self._batch_raw = entry

    def _on_z(self, _: str, z: ZRecord, entry: Raw) -> None:
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

    def _on_b(self, _: str, b: BRecord, entry: Raw) -> None:
        if self._open is not None or self._block is not None:
            self._interrupt("a new B record started a block")
        self._block = _Block(b, entry)
        if b.application_id == "MS":
            self._open = OpenStatement("block", b, [entry])
        elif b.application_id not in ("MO", "MQ"):
            self._block = None
            raise _Reject(
                f"application {b.application_id!r} is not one pms-stream handles "
                f"(MS statements, MO reroute requests, MQ reroute answers)"
            )

    def _on_y(self, _: str, y: YRecord, entry: Raw) -> None:
        block = self._block
        if block is None:
            raise _Reject("Y record without a B record before it")
        b = block.b
        if self._open is not None:
            self._open.records.append(entry)
            for check in (
                checks.trailer_mismatch(y, b),
                checks.record_count(y.record_count, block.count),
            ):
                if check is not None:
                    self._open.checks.append(check)
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
            st, self._open, self._block = self._open, None, None  # its records hold the B
            self._reject_statement(st, f"block not closed by a Y record: {why}")
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

    def _on_qr(self, _: str, qr: QRRecord, entry: Raw) -> None:
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

    def _on_qx(self, _: str, qx: QXRecord, entry: Raw) -> None:
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
        self._out.append(reroute_ack(qx, entry, self._name))

    def _emit_request(
        self, qr: QRRecord, entry: Raw, block: _Block | None, in_block: int, position: int = 1
    ) -> None:
        b = block.b if block is not None else None
        self._out.append(
            reroute_request(
                qr, entry, self._name, batch=self._batch, b=b, in_block=in_block, position=position
            )
        )

    # ---- statement records: the order is statements/order.py's table -----------------------

    def _on_statement_record(self, tag: str, record: Record, entry: Raw) -> None:
        """A Q1 ... Q7 record: find its statement, look its step up in `STRUCTURE_MAP`, keep it
        and move the phase, or reject it with the table's reason."""
        st = self._open
        if (
            st is not None
            and st.framing == "bare"
            and isinstance(STRUCTURE_MAP[st.phase][tag], NextStatement)
        ):
            self._close_statement()  # the record can only begin the next bare statement
        st = self._statement_for(tag, entry)
        if tag == "Q5" and st.block is not None and st.block.statement_status == "P":
            raise _Reject(Q5_ON_PRELIMINARY.reason)
        step = STRUCTURE_MAP[st.phase][tag]
        if not isinstance(step, Phase):
            daily = st.daily[-1].q1.daily_statement_number if st.daily else None
            raise _Reject(step.reason.format(daily=daily))
        if tag in _ENDS_DAILY:
            self._end_daily(st)
        try:
            st.add(record, entry)
        except OutOfSequence as exc:
            raise _Reject(exc.reason) from None
        st.phase = step

    def _statement_for(self, tag: str, entry: Raw) -> OpenStatement:
        """The open statement the record belongs to, opening a bare one where the record may
        begin one; the record is added to its records."""
        block = self._block
        if block is not None:
            if self._open is None and block.overflow is not None:
                self._count_in_block(entry)
                raise _Reject(block.overflow)
            if self._open is None:
                self._count_in_block(entry)
                raise _Reject(
                    f"{tag} record inside a {block.b.application_id} block; Q statement "
                    f"records belong in an MS block"
                )
            block.count += 1
            self._open.records.append(entry)
            self._check_size()
            return self._open
        if self._open is None:
            step = STRUCTURE_MAP[Phase.NONE][tag]
            if not isinstance(step, Phase):
                raise _Reject(step.reason)
            self._open = OpenStatement("bare", None, phase=Phase.NONE)
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

    # ---- closing ------------------------------------------------------------------------------

    def _end_daily(self, st: OpenStatement) -> None:
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
        if st.phase == Phase.Q1:
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
        missing = missing_parts(st)
        if missing:
            self._reject_statement(st, f"incomplete statement: {missing}")
            return
        self._out.append(build_statement(st, self._batch, self._name))

    def _reject_statement(
        self,
        st: OpenStatement,
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
        kept = st.kept()
        if kept:
            self._out.append(
                statement_rejected(
                    kept,
                    reason,
                    self._name,
                    record_type=record_type,
                    field=field,
                    positions=positions,
                    value=value,
                )
            )

    # ---- events -------------------------------------------------------------------------------
    def _emit_reject(
        self,
        kind: RejectKind,
        reason: str,
        raw: bytes,
        origin: Origin,
        record_type: str | None = None,
    ) -> None:
        self._out.append(rejected(kind, reason, (raw, origin), self._name, record_type))


_ENDS_DAILY: Final = frozenset({"Q1", "Q3"})  # the open daily statement is over (or orphaned)

# A record's type ("Q1", ...) and its handler, by the record's class: one lookup per record.
_Handler = Callable[[Assembler, str, Any, Raw], None]
_DISPATCH: Final[dict[type[Record], tuple[str, _Handler]]] = {
    ARecord: ("A", Assembler._on_a),
    BRecord: ("B", Assembler._on_b),
    YRecord: ("Y", Assembler._on_y),
    ZRecord: ("Z", Assembler._on_z),
    QRRecord: ("QR", Assembler._on_qr),
    QXRecord: ("QX", Assembler._on_qx),
    **{RECORD_TYPES[tag]: (tag, Assembler._on_statement_record) for tag in STATEMENT_RECORDS},
}
assert all(str(cls.__struct_config__.tag) == tag for cls, (tag, _) in _DISPATCH.items())
