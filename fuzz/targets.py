"""The fuzz targets: each takes arbitrary bytes and checks what the project promises of them.

A target returns normally when every check holds. A promise broken raises `Violation` (named by
its check); any other exception escaping a target is an undocumented exception, itself a bug.
The checks, by target (the figures of the last run: docs/reliability.md, "Fuzzing"):

codec
    The input, as bytes, bytearray, latin-1 text and UTF-8 text, and once more cut or padded to
    80 characters: `parse_record` raises nothing but `RecordError`; a record it accepts
    re-encodes (`encode_record`) to exactly the input less one trailing CR, LF or CRLF, and parses
    back equal; the generated fast path and the precise path agree (both reject, or equal values
    compared by repr), and `parse_record` gives the precise path's answer.
framing
    `frame_message` and a `RecordFramer` fed the input in two arbitrary chunkings (from a hash of
    the input) give well-formed pieces that account for every input byte exactly once (only the
    LFs, and a CR ending a line, are removed); the chunked pieces equal the whole-input pieces
    while no line reaches the framer's cut size. The same again with the cut size shrunk to a
    few records, to reach the long-line path with short inputs.
assembler
    Byte 0 chooses `max_records` and where to split; the rest is framed and fed (records with
    `feed`, fragments with `feed_fragment`), then `flush`. Only events of the JSON contract come
    out, each encodes and decodes back equal; every fragment and every record the codec refuses
    is rejected exactly once, by itself, with its bytes; no record is held by two
    rejected events; statements name a plausible extent; the open state never holds more than
    `max_records` + 2 records; after `flush` nothing is open. Rebuilding a fresh assembler from
    `open_records()` at the split point and feeding both the rest gives the same events.
partition
    Lines are records of the current message, or directives: `@k<c>` switch the key to b"k<c>"
    (`@k` alone: no key), `@m` end the message, `@t` a tombstone, `@b` end the batch, `@x` end
    the batch and tick the clock past the idle timeout (then `expire`), `@c` crash before the
    next message. Limits are small (3 open keys, 1,200-byte messages, 40 records per
    statement). The outputs committed by a run that crashes at each `@c` (and at one more point
    chosen by a hash) and restores from its last committed checkpoint equal an uninterrupted
    run's, as in tests/service/test_partition_task.py::test_crash_anywhere_restores_exactly_once;
    and the uninterrupted run's outputs are the same with the fast path for whole blocks of a
    message off (`PartitionTask(fast=False)`, the assembler alone).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any, Final

import msgspec

from pms_stream import framing as framing_module
from pms_stream.catair import codec as codec_module
from pms_stream.catair.codec import RECORD_LENGTH, encode_record, parse_record
from pms_stream.catair.fastpath import Bail
from pms_stream.errors import RecordError
from pms_stream.framing import Piece, RecordFramer, frame_message
from pms_stream.statements.assembler import Assembler, Origin
from pms_stream.statements.model import (
    Event,
    RejectedEvent,
    RerouteAckEvent,
    RerouteRequestEvent,
    Statement,
)
from pms_stream.stream.outputs import Output
from pms_stream.stream.partition_task import Checkpoint, InputMessage, Limits, PartitionTask

__all__ = ["SUSPENDED", "TARGETS", "Target", "Violation", "known_hits"]


class Violation(AssertionError):  # noqa: N818 - a broken promise, named as the docs say
    """A promise of the project broken by one input; `check` names the promise."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


# Checks switched off while a bug they found is open: check name -> what is wrong. A suspended
# check still runs; an input that breaks it counts in `known_hits` instead of failing. Remove the
# entry when the bug is fixed (the committed corpus then replays it in CI).
SUSPENDED: Final[dict[str, str]] = {}

known_hits: Counter[str] = Counter()  # inputs that broke each suspended check
_hit: set[str] = set()  # suspended checks broken by the input being run


def _fail(check: str, message: str) -> None:
    if check in SUSPENDED:
        _hit.add(check)
        return
    raise Violation(check, message)


def _seeded(data: bytes) -> Random:
    """A random generator seeded by the input, so each input is its own reproducer."""
    return Random(zlib.crc32(data))  # noqa: S311 - choices of the harness, not secrets


# --------------------------------------------------------------------------------------------
# codec
# --------------------------------------------------------------------------------------------


def _without_line_end(raw: bytes | str) -> bytes | str:
    """What the codec reads: one trailing LF, CR or CRLF is dropped from a non-80 input."""
    if len(raw) == RECORD_LENGTH:
        return raw
    nl, cr = ("\n", "\r") if isinstance(raw, str) else (b"\n", b"\r")
    if raw.endswith(nl):  # type: ignore[arg-type]
        raw = raw[:-1]
    if raw.endswith(cr):  # type: ignore[arg-type]
        raw = raw[:-1]
    return raw


def _parse(raw: Any) -> Any:
    """The record `parse_record` makes of `raw`, or its RecordError (nothing else may escape)."""
    try:
        return parse_record(raw)
    except RecordError as exc:
        str(exc)  # the message must render
        return exc


def _round_trip(raw: bytes | str) -> None:
    result = _parse(raw)
    if isinstance(result, RecordError):
        return
    text = _without_line_end(raw)
    expected = text.encode("latin-1") if isinstance(text, str) else text
    encoded = encode_record(result)
    if encoded != expected:
        _fail("codec.round_trip", f"{raw!r} parsed, then encoded as {encoded!r}")
    if repr(parse_record(encoded)) != repr(result):
        _fail("codec.reparse", f"{raw!r} re-encoded parses to a different record")


def _agree(s: str) -> None:
    """The fast path accepts only what the precise path accepts, with the same values."""
    if len(s) != RECORD_LENGTH or not (s.isascii() and s.isprintable()):
        return
    plan = codec_module._BY_IDENTIFIER.get(s[:2]) or codec_module._BY_IDENTIFIER.get(s[:1])
    if plan is None:
        return
    try:
        precise: object = plan.parse(s)
    except RecordError as exc:
        precise = exc
    overall = _parse(s)
    if isinstance(precise, RecordError):
        if not isinstance(overall, RecordError) or overall.reason != precise.reason:
            _fail("codec.parse_is_precise", f"{s!r}: precise {precise}, parse_record {overall!r}")
    elif repr(overall) != repr(precise):
        _fail("codec.parse_is_precise", f"{s!r}: precise {precise!r}, parse_record {overall!r}")
    if plan.fast == plan.parse:
        return
    try:
        fast: object = plan.fast(s)
    except Bail:  # the only exception a fast parser may raise; any other is a finding
        return
    if repr(fast) != repr(precise):
        _fail("codec.fast_path", f"{s!r}: fast {fast!r}, precise {precise!r}")


def _fit(data: bytes) -> bytes:
    return data[:RECORD_LENGTH].ljust(RECORD_LENGTH, b" ")


def codec(data: bytes) -> None:
    for raw in (data, _fit(data)) if len(data) != RECORD_LENGTH else (data,):
        _round_trip(raw)
        _round_trip(raw.decode("latin-1"))
        with suppress(UnicodeDecodeError):
            _round_trip(raw.decode("utf-8"))
        if repr(_parse(bytearray(raw))) != repr(_parse(raw)):
            _fail("codec.bytearray", f"{raw!r} parses differently as a bytearray")
        _agree(raw.decode("latin-1"))


# --------------------------------------------------------------------------------------------
# framing
# --------------------------------------------------------------------------------------------


def _chunks(data: bytes, rng: Random) -> Iterator[bytes]:
    i = 0
    while i < len(data):
        size = rng.choice([1, 2, rng.randint(3, 79), 79, 80, 81, 160, rng.randint(1, len(data))])
        yield data[i : i + size]
        i += size


def _framed(data: bytes, rng: Random) -> list[Piece]:
    framer = RecordFramer()
    pieces: list[Piece] = []
    for chunk in _chunks(data, rng):
        pieces += framer.feed(chunk)
    return pieces + framer.close()


def _accounted(data: bytes, pieces: list[Piece]) -> bool:
    """The pieces' bytes are the input's, in order, less its line ends: without an LF the
    whole input; with LFs, line by line, each line less at most its trailing CR (the pieces
    of the first line carry None while no LF has been seen)."""
    if b"\n" not in data:
        return b"".join(p.raw for p in pieces) == data
    lines = data.split(b"\n")
    got: list[list[bytes]] = [[] for _ in lines]
    last = 1
    for p in pieces:
        n = p.line if p.line is not None else 1
        if not last <= n <= len(lines):
            return False
        got[n - 1].append(p.raw)
        last = n
    for line, raws in zip(lines, got, strict=True):
        text = b"".join(raws)
        if text != line and not (line.endswith(b"\r") and text == line[:-1]):
            return False
    return True


def _well_formed(pieces: list[Piece]) -> str | None:
    for n, p in enumerate(pieces, 1):
        if p.record != n:
            return f"piece {n} numbered {p.record}"
        if p.problem is None and len(p.raw) != RECORD_LENGTH:
            return f"piece {n} of {len(p.raw)} bytes without a problem"
        if p.problem is not None and (not p.raw or len(p.raw) == RECORD_LENGTH):
            return f"piece {n} of {len(p.raw)} bytes with problem {p.problem!r}"
        if b"\n" in p.raw:
            return f"piece {n} holds a line end"
    return None


@contextmanager
def _cut_size(size: int) -> Iterator[None]:
    saved = framing_module._FLUSH_AT
    framing_module._FLUSH_AT = size
    try:
        yield
    finally:
        framing_module._FLUSH_AT = saved


def _frame_checks(data: bytes, rng: Random, cut: int) -> None:
    whole = frame_message(data)
    longest = max(len(line) for line in data.split(b"\n"))
    for how, pieces in (("whole", whole), ("chunked", _framed(data, rng))):
        problem = _well_formed(pieces)
        if problem:
            _fail("framing.pieces", f"{how}, cut size {cut}: {problem}; input {data[:200]!r}")
        if not _accounted(data, pieces):
            _fail("framing.bytes", f"{how}, cut size {cut}: bytes lost; input {data[:200]!r}")
        if pieces != whole and (longest < cut or b"\n" not in data):
            _fail("framing.chunking", f"cut size {cut}: chunked differs; input {data[:200]!r}")


def framing(data: bytes) -> None:
    rng = _seeded(data)
    _frame_checks(data, rng, framing_module._FLUSH_AT)
    small = RECORD_LENGTH * rng.randint(1, 4) + rng.choice([0, 0, rng.randrange(RECORD_LENGTH)])
    with _cut_size(small):
        _frame_checks(data, rng, small)


# --------------------------------------------------------------------------------------------
# assembler
# --------------------------------------------------------------------------------------------

_MAX_RECORDS: Final = (100_000, 3, 12, 40)
_EVENT_DECODER: Final = msgspec.json.Decoder(Event)
_EVENT_ENCODER: Final = msgspec.json.Encoder()


def _feed(asm: Assembler, piece: Piece) -> list[Event]:
    origin = Origin(record=piece.record)
    if piece.problem is not None:
        return asm.feed_fragment(piece.raw, origin, piece.problem)
    return asm.feed(piece.raw, origin)


_EVENT_TYPES: Final[tuple[type, ...]] = (
    Statement,
    RejectedEvent,
    RerouteRequestEvent,
    RerouteAckEvent,
)


def _contract(events: list[Event]) -> None:
    for event in events:
        if type(event) not in _EVENT_TYPES:
            _fail("assembler.contract", f"not an event: {event!r}")
        encoded = _EVENT_ENCODER.encode(event)
        if _EVENT_DECODER.decode(encoded) != event:
            _fail("assembler.contract", f"does not decode back equal: {encoded!r}")


def _text(piece: Piece | None) -> str | None:
    return None if piece is None else piece.raw.decode("latin-1")


def _claims(pieces: list[Piece], events: list[Event]) -> None:
    """Every refused piece rejected once by itself; no piece held by two rejected events."""
    by_number = {p.record: p for p in pieces}
    holders: dict[int, list[RejectedEvent]] = {}
    rejects = [e for e in events if isinstance(e, RejectedEvent)]
    for e in rejects:
        if e.kind == "statement":
            continue
        n = e.source.first_record
        piece = by_number.get(n) if n is not None else None
        if piece is None or e.source.last_record != n or e.raw != _text(piece):
            _fail("assembler.reject_source", f"{e.kind} reject {e.raw!r} names {e.source}")
            continue
        holders.setdefault(piece.record, []).append(e)
    for e in rejects:
        if e.kind == "statement":
            _statement_claims(e, by_number, holders)
    for n, held in sorted(holders.items()):
        if len(held) > 1:
            _fail(_double_claim(by_number[n], held), f"record {n} in {len(held)} rejected events")
    for p in pieces:
        refused = p.problem is not None or isinstance(_parse(p.raw), RecordError)
        if refused and len(holders.get(p.record, ())) != 1:
            _fail("assembler.refused_once", f"record {p.record} {p.raw!r} not rejected once")
    for st in events:
        if isinstance(st, Statement):
            first, last = st.source.first_record, st.source.last_record
            if first is None or last is None or not 1 <= st.record_count <= last - first + 1:
                _fail("assembler.statement_source", f"{st.record_count} records in {st.source}")


def _statement_claims(
    e: RejectedEvent, by_number: dict[int, Piece], holders: dict[int, list[RejectedEvent]]
) -> None:
    """The raw lines of a rejected statement are records first..last, in order: each is taken
    by the first match not yet held by another rejected event, else by the first match."""
    first, last = e.source.first_record, e.source.last_record
    lines = e.raw.split("\n")
    if first is None or last is None or e.record_count != len(lines):
        _fail("assembler.reject_source", f"statement reject {e.record_count} {e.source}")
        return
    n = first
    for line in lines:
        span = [k for k in range(n, last + 1) if _text(by_number.get(k)) == line]
        free = [k for k in span if k not in holders]
        if not span:
            _fail("assembler.reject_source", f"statement line {line!r} not in {first}-{last}")
            return
        k = (free or span)[0]
        holders.setdefault(k, []).append(e)
        n = k + 1


def _double_claim(piece: Piece, held: list[RejectedEvent]) -> str:
    """The check a record held twice breaks; a known bug has its own name (see SUSPENDED)."""
    reasons = [e.reason for e in held]
    if (
        piece.raw.startswith(b"B")
        and any("max_records_per_statement" in r for r in reasons)
        and any(r.startswith("B record's block not closed") for r in reasons)
    ):
        return "assembler.claims.overflow_b"
    return "assembler.claims"


def _run(asm: Assembler, pieces: Sequence[Piece], cap: int) -> list[Event]:
    events: list[Event] = []
    for piece in pieces:
        events += _feed(asm, piece)
        held = asm.open_records()
        if len(held) > cap:
            _fail(_unbounded(held, asm.max_records), f"{len(held)} records open, cap {cap}")
    return events


def _unbounded(held: list[tuple[bytes, Origin]], max_records: int) -> str:
    """The check an open state too large breaks; known bugs have their own names."""
    if sum(raw.startswith(b"QR") for raw, _ in held) > max_records:
        return "assembler.bounded.mo_requests"
    if any(isinstance(_parse(raw), RecordError) for raw, _ in held):
        return "assembler.bounded.invalid_in_block"
    return "assembler.bounded"


def _without_rejected_counts(events: list[Event]) -> list[Event]:
    return [
        msgspec.structs.replace(e, checks=[c for c in e.checks if c.code != "rejected_records"])
        if isinstance(e, Statement)
        else e
        for e in events
    ]


def _rebuild_check(got: list[Event], expected: list[Event]) -> str:
    """The check a rebuild that differs breaks; known bugs have their own names."""
    if _without_rejected_counts(got) == _without_rejected_counts(expected):
        return "assembler.rebuild.rejected_count"
    return "assembler.rebuild"


def assembler(data: bytes) -> None:
    if not data:
        return
    control, body = data[0], data[1:]
    max_records = _MAX_RECORDS[control & 3]
    pieces = frame_message(body)
    split = (control >> 2) * (len(pieces) + 1) // 64
    cap = max_records + 2

    asm = Assembler(file="fuzz", max_records=max_records)
    head = _run(asm, pieces[:split], cap)
    rebuilt = Assembler(file="fuzz", max_records=max_records)
    for raw, origin in asm.open_records():
        rebuilt.feed(raw, origin)
    if rebuilt.open_records() != asm.open_records():
        _fail("assembler.rebuild", f"open records differ after rebuilding at {split}")
    block = asm._block  # looked at only to name a known bug (see SUSPENDED)
    overflowed = block is not None and block.overflow is not None
    tail = _run(asm, pieces[split:], cap)
    end = asm.flush()
    events = head + tail + end
    _contract(events)
    _claims(pieces, events)
    if asm.has_open_state or asm.open_records():
        _fail("assembler.flushed", "state still open after flush")
    again = _run(rebuilt, pieces[split:], cap) + rebuilt.flush()
    if overflowed:
        return  # documented: open_records() does not carry a size rejection (its docstring)
    if again != tail + end:
        check = _rebuild_check(again, tail + end)
        _fail(check, f"events differ after rebuilding at record {split + 1}")


# --------------------------------------------------------------------------------------------
# partition task
# --------------------------------------------------------------------------------------------

_LIMITS: Final = Limits(
    idle_timeout_s=10.0, max_message_bytes=1200, max_open_keys=3, max_records_per_statement=40
)
_NOW: Final = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Step:
    message: InputMessage | None  # None: the end of a batch
    tick: bool = False  # the clock passes the idle timeout, then expire
    crash: bool = False  # a crash point before this message


def _steps(data: bytes) -> list[_Step]:
    steps: list[_Step] = []
    key: bytes | None = None
    lines: list[bytes] = []
    crash = False
    offset = 0

    def message(value: bytes | None) -> None:
        nonlocal crash, offset
        steps.append(_Step(InputMessage(offset, key, value), crash=crash))
        crash = False
        offset += 1

    for line in data.split(b"\n"):
        if not line.startswith(b"@"):
            lines.append(line)
            continue
        if lines:
            message(b"\n".join(lines))
            lines = []
        op = line[1:2]
        if op == b"k":
            key = b"k" + line[2:3] if len(line) > 2 else None
        elif op == b"t":
            message(None)
        elif op in (b"b", b"x"):
            steps.append(_Step(None, tick=op == b"x"))
        elif op == b"c":
            crash = True
    if lines and lines != [b""]:
        message(b"\n".join(lines))
    return steps


class _Clock:
    """The task's clock: a millisecond per message, the idle timeout and more per tick."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _times(steps: list[_Step]) -> list[float]:
    times: list[float] = []
    ticks = 0
    for i, s in enumerate(steps):
        ticks += s.tick
        times.append(i / 1000 + ticks * (_LIMITS.idle_timeout_s + 1))
    return times


def _task(clock: _Clock, checkpoint: Checkpoint | None = None, fast: bool = True) -> PartitionTask:
    return PartitionTask(
        "in",
        0,
        checkpoint=checkpoint,
        limits=_LIMITS,
        clock=clock,
        wall_clock=lambda: _NOW,
        fast=fast,
    )


def _values(outputs: list[Output]) -> list[tuple[str, bytes | None, bytes]]:
    return [(o.sink.value, o.key, o.value) for o in outputs]


def _uninterrupted(steps: list[_Step], times: list[float], fast: bool = True) -> list[Output]:
    clock = _Clock()
    t = _task(clock, fast=fast)
    out: list[Output] = []
    for step, now in zip(steps, times, strict=True):
        clock.now = now
        if step.message is not None:
            out += t.process(step.message)
        elif step.tick:
            out += t.expire()
    return out + t.flush_all()


def _crashing(steps: list[_Step], times: list[float], batch: int, extra: int) -> list[Output]:
    """Batches of at most `batch` messages, each committed with its checkpoint; a crash loses
    the batch in flight and restores from the last commit, as the service does."""
    at = {i: s.message.offset for i, s in enumerate(steps) if s.message is not None}
    index = {offset: i for i, offset in at.items()}
    crashes = {i for i, s in enumerate(steps) if s.crash} | {extra % (len(steps) + 1)}
    clock = _Clock()
    t = _task(clock)
    committed: list[Output] = []
    checkpoint: Checkpoint | None = None
    i = 0
    while i < len(steps):
        pending: list[Output] = []
        taken = 0
        crashed = False
        while i < len(steps):
            step = steps[i]
            if step.message is not None and i in crashes:
                crashes.discard(i)
                crashed = True
                break
            clock.now = times[i]
            i += 1
            if step.message is None:
                if step.tick:
                    pending += t.expire()
                break
            pending += t.process(step.message)
            taken += 1
            if taken >= batch:
                break
        if crashed:
            restored = (
                Checkpoint.from_committed(checkpoint.offset, checkpoint.metadata())
                if checkpoint
                else None
            )
            t = _task(clock, restored)
            i = index.get(restored.offset, len(steps)) if restored else 0
            continue
        committed += pending
        cp = t.checkpoint()
        if cp is not None:
            checkpoint = cp
    return committed + t.flush_all()


def partition(data: bytes) -> None:
    steps = _steps(data)
    if not steps:
        return
    rng = _seeded(data)
    times = _times(steps)
    expected = _uninterrupted(steps, times)
    for o in expected:
        msgspec.json.decode(o.value)  # every output value is JSON
    if _values(_uninterrupted(steps, times, fast=False)) != _values(expected):
        _fail("partition.fast_path", "outputs with the fast path differ from the assembler's")
    got = _crashing(steps, times, rng.randint(1, 6), rng.randrange(1 << 16))
    if _values(got) != _values(expected):
        _fail("partition.exactly_once", "outputs after crashes differ from an uninterrupted run")


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    check: Callable[[bytes], None]
    max_len: int  # the longest input the coverage-guided engine makes

    def run(self, data: bytes) -> None:
        """Run the checks on one input; count the suspended checks it breaks."""
        _hit.clear()
        try:
            self.check(data)
        finally:
            known_hits.update(_hit)


TARGETS: Final = {
    t.name: t
    for t in (
        Target("codec", codec, 200),
        Target("framing", framing, 4096),
        Target("assembler", assembler, 4096),
        Target("partition", partition, 4096),
    )
}
