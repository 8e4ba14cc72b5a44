"""Message packing: a records file cut into Kafka messages the way `pms-stream send` sends them.

Records are grouped into messages of up to `pack` records, joined by newlines (or concatenated),
and a message never mixes two stream keys: with `key_by="filer"` each transmission or bare
statement run is keyed by its filer code (from the A, B or Q1/Q3 record, at the positions the
layouts give), so it stays in order on one partition; with `key_by="transmission"` a transmission
(A ... Z) is keyed by its filer code and transmission date (`FIL/YYMMDD`, from the A record), so
that one filer's transmissions spread over the partitions while each stays whole on one (block
headers outside a transmission and bare runs keep the filer key); with `key_by="none"` messages
have no key. Why: with filer keys a month of input has only as many keys as filers (15-16 in
100,000 generated records), too few to spread evenly (docs/performance.md, "Key spread").

Flow: file -> framing -> **packing** -> the input topic (`pms-stream send`, the tests' and the
benchmarks' producers). Pure: no Kafka here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from pms_stream.catair.layouts import LAYOUTS_BY_TYPE
from pms_stream.framing import RecordFramer

__all__ = ["messages"]

CHUNK = 1 << 20


# Where the filer code sits in each record that can start a stream, from the layouts.
_FILER_AT = {
    record_type.encode(): LAYOUTS_BY_TYPE[record_type].field("filer_code").slice
    for record_type in ("A", "B", "Q1", "Q3")
}
_DATE_AT = LAYOUTS_BY_TYPE["A"].field("transmission_date").slice


def _filer_of(raw: bytes) -> bytes | None:
    """The filer code that starts a stream: of an A, B, Q1 or Q3 record; else None."""
    where = _FILER_AT.get(raw[:1]) or _FILER_AT.get(raw[:2])
    return raw[where].rstrip() if where is not None else None


def _key_of(raw: bytes, key_by: str) -> bytes | None:
    """The stream key a record starts: its filer, and for an A record under
    `key_by="transmission"` also the transmission date."""
    filer = _filer_of(raw)
    if filer and key_by == "transmission" and raw[:1] == b"A":
        return filer + b"/" + raw[_DATE_AT]
    return filer


def messages(
    stream: BinaryIO, pack: int, key_by: str, concatenate: bool
) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) for each message to send, in file order."""
    framer = RecordFramer()
    key: bytes | None = None
    batch: list[bytes] = []
    joiner = b"" if concatenate else b"\n"
    in_block = False
    while True:
        chunk = stream.read(CHUNK)
        for piece in framer.feed(chunk) if chunk else framer.close():
            raw = piece.raw
            if key_by in ("filer", "transmission"):
                # A new stream key starts at an A record, a B outside a batch, or a Q1/Q3 that
                # starts a bare run; everything else follows its stream.
                kind = raw[:1]
                starts = kind == b"A" or (kind == b"B" and not in_block)
                if kind == b"A":
                    in_block = True
                elif kind == b"Z":
                    in_block = False
                new = (
                    _key_of(raw, key_by)
                    if starts or (not in_block and raw[:2] in (b"Q1", b"Q3"))
                    else None
                )
                if new and new != key:
                    if batch:
                        yield key, joiner.join(batch)
                        batch = []
                    key = new
            batch.append(raw)
            if len(batch) >= pack:
                yield key, joiner.join(batch)
                batch = []
        if not chunk:
            break
    if batch:
        yield key, joiner.join(batch)
