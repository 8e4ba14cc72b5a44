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

Flow: **framing** -> codec -> assembler.
"""

from __future__ import annotations

from typing import NamedTuple

from pms_stream.catair.fields import RECORD_LENGTH

__all__ = ["Piece", "RecordFramer", "frame_message"]

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
