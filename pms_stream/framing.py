"""Framing: a file or a Kafka message value becomes a sequence of 80-byte records.

Input may hold one record, several concatenated, or records on LF or CRLF lines. The rules:
- With line ends, each line is one record or several concatenated (its length a multiple of 80).
  A line of any other length is rejected whole, with its bytes, so that a stray character never
  shifts a good-looking record out of place. Empty lines are skipped.
- Without line ends, the input is cut every 80 bytes; a trailing partial record is rejected with
  its bytes, never dropped.
`RecordFramer` streams: memory stays bounded by 64 KiB plus a chunk, whatever the input size.
The price: a line longer than 64 KiB (no line end in sight) is cut into records as it streams,
and only its tail, if not a whole record, is rejected as a partial record.

`RunFramer` is a `RecordFramer` that can also hand over a chunk's records as one `Run` (one
string, no object per record) when every record of the chunk is a whole 80-byte record on lines
of one kind (LF, CRLF) or without line ends; any other chunk it frames into `Piece`s as
`RecordFramer.feed` does. The offline parse's fast path reads runs (docs/performance.md).

Flow: **framing** -> codec -> assembler.
"""

from __future__ import annotations

from typing import NamedTuple

from pms_stream.catair.fields import RECORD_LENGTH

__all__ = ["Piece", "RecordFramer", "Run", "RunFramer", "frame_message"]

_FLUSH_AT = 64 * 1024  # without a line end in sight, cut concatenated records past this size


class Piece(NamedTuple):
    """One record (or a rejected fragment) and where it was: line and record number, 1-based.

    `line` is None for input without line ends; `record` counts pieces from 1. `problem` is
    None for an 80-byte record, else the reason the fragment is not a record.
    """

    raw: bytes
    line: int | None
    record: int
    problem: str | None = None


class RecordFramer:
    """Cuts a byte stream into records. Call `feed` for each chunk and `close` at the end."""

    def __init__(self) -> None:
        self._buf = b""
        self._line = 0
        self._record = 0
        self._lines = False  # a line end has been seen
        self._cut = 0  # bytes of the pending line already cut into records

    def feed(self, chunk: bytes) -> list[Piece]:
        out: list[Piece] = []
        data = self._buf + chunk if self._buf else chunk
        if b"\n" in chunk:
            self._lines = True
            parts = data.split(b"\n")
            self._buf = parts.pop()
            for line in parts:
                self._take_line(line, out)
        else:
            self._buf = data
        if len(self._buf) >= _FLUSH_AT:
            cut = len(self._buf) - len(self._buf) % RECORD_LENGTH
            self._emit_records(self._buf[:cut], None if not self._lines else self._line + 1, out)
            self._cut += cut
            self._buf = self._buf[cut:]
        return out

    def close(self) -> list[Piece]:
        out: list[Piece] = []
        if self._buf or self._cut:
            if self._lines:
                self._take_line(self._buf, out)
            else:
                self._take_tail(self._buf, out)
        self._buf = b""
        return out

    def _emit_records(self, data: bytes, line: int | None, out: list[Piece]) -> None:
        for start in range(0, len(data), RECORD_LENGTH):
            self._record += 1
            out.append(Piece(data[start : start + RECORD_LENGTH], line, self._record))

    def _take_line(self, line: bytes, out: list[Piece]) -> None:
        self._line += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        n = len(line)
        cut, self._cut = self._cut, 0
        if n == RECORD_LENGTH and not cut:
            self._record += 1
            out.append(Piece(line, self._line, self._record))
        elif n == 0 and not cut:
            return
        elif n % RECORD_LENGTH == 0:
            self._emit_records(line, self._line, out)
        elif cut:  # part of this long line was already cut into records
            self._take_tail(line, out, self._line)
        else:
            self._record += 1
            out.append(
                Piece(
                    line,
                    self._line,
                    self._record,
                    f"line is {n} characters long; a record is {RECORD_LENGTH}, or several "
                    f"of {RECORD_LENGTH} concatenated",
                )
            )

    def _take_tail(self, data: bytes, out: list[Piece], line: int | None = None) -> None:
        whole = len(data) - len(data) % RECORD_LENGTH
        self._emit_records(data[:whole], line, out)
        if whole < len(data):
            self._record += 1
            tail = data[whole:]
            out.append(
                Piece(
                    tail,
                    line,
                    self._record,
                    f"trailing partial record of {len(tail)} bytes; a record is {RECORD_LENGTH}",
                )
            )


class Run(NamedTuple):
    """Whole records in a row, the `Piece`s a `RecordFramer` would make, without one object per
    record. `text` holds them decoded as latin-1 (one character a byte), each followed by "\n"
    whatever the input's line ends: record k (from 0) is `text[k * 81 : k * 81 + 80]`, its
    bytes that string encoded as latin-1, its line `first_line + k` (None without line ends)
    and its record number `first_record + k`."""

    text: str
    first_line: int | None
    first_record: int
    records: int

    def pieces(self) -> list[Piece]:
        """The same records as `Piece`s."""
        text, line, record = self.text, self.first_line, self.first_record
        return [
            Piece(
                text[k * RUN_STRIDE : k * RUN_STRIDE + RECORD_LENGTH].encode("latin-1"),
                None if line is None else line + k,
                record + k,
            )
            for k in range(self.records)
        ]


RUN_STRIDE = RECORD_LENGTH + 1  # a record and its "\n" in `Run.text`
_LF, _CR = ord("\n"), ord("\r")


class RunFramer(RecordFramer):
    """A `RecordFramer` that hands over regular chunks as a `Run` (`feed_run`).

    `feed_run(chunk)` gives exactly the records `feed(chunk)` would, in a `Run` when all of them
    are whole records and the chunk's complete lines are all 80 bytes with the same line end
    (LF or CRLF), or when the input has no line ends at all; otherwise the `Piece`s of `feed`.
    `feed` and `close` are `RecordFramer`'s; the calls may be mixed in any order.
    """

    def feed_run(self, chunk: bytes) -> Run | list[Piece]:
        if b"\n" in chunk:
            if not self._cut:
                data = self._buf + chunk if self._buf else chunk
                end = data.rfind(b"\n") + 1
                if len(data) - end < _FLUSH_AT:
                    text = _lines_text(data, end)
                    if text is not None:
                        self._buf = data[end:]
                        self._lines = True
                        return self._run(text, self._line + 1)
        elif not self._lines:
            data = self._buf + chunk if self._buf else chunk
            if len(data) >= _FLUSH_AT:
                cut = len(data) - len(data) % RECORD_LENGTH
                whole = data[:cut].decode("latin-1")
                self._buf = data[cut:]
                self._cut += cut
                text = "\n".join(
                    [whole[s : s + RECORD_LENGTH] for s in range(0, cut, RECORD_LENGTH)]
                )
                return self._run(text + "\n", None)
        return self.feed(chunk)

    def _run(self, text: str, first_line: int | None) -> Run:
        count = len(text) // RUN_STRIDE
        run = Run(text, first_line, self._record + 1, count)
        self._record += count
        if first_line is not None:
            self._line += count
        return run


def _lines_text(data: bytes, end: int) -> str | None:
    """`data[:end]` (complete lines) as a run's text when each line is one 80-byte record and
    all end alike, in LF or in CRLF; else None."""
    for stride, crlf in ((RUN_STRIDE, False), (RUN_STRIDE + 1, True)):
        count, rest = divmod(end, stride)
        if rest or data.count(_LF, 0, end) != count:
            continue
        if data[stride - 1 : end : stride].count(_LF) != count:
            continue  # a line end off its place: lines of other lengths
        ends = data[RECORD_LENGTH - 1 + crlf : end : stride].count(_CR)
        if crlf and ends == count:  # every line ends in CRLF: the framer strips the CR
            return data[:end].decode("latin-1").replace("\r\n", "\n")
        if not crlf and not ends:  # no LF line ending in CR: that CR would be stripped
            return data[:end].decode("latin-1")
    return None


def frame_message(value: bytes) -> list[Piece]:
    """The records of one whole Kafka message value (or any complete buffer). Without a line
    end (the usual message) it is cut every 80 bytes here, as `RecordFramer` would, without
    building one per message."""
    if b"\n" not in value:
        n = len(value)
        whole = n - n % RECORD_LENGTH
        pieces = [
            Piece(value[start : start + RECORD_LENGTH], None, number)
            for number, start in enumerate(range(0, whole, RECORD_LENGTH), 1)
        ]
        if whole < n:
            pieces.append(
                Piece(
                    value[whole:],
                    None,
                    len(pieces) + 1,
                    f"trailing partial record of {n - whole} bytes; a record is {RECORD_LENGTH}",
                )
            )
        return pieces
    framer = RecordFramer()
    return framer.feed(value) + framer.close()
